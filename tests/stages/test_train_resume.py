"""Kill-and-resume: a training run SIGKILLed after a checkpoint and rerun with the same command
ends with the same loss curve, validation rows and weights, bit for bit (CPU), as a run that
was never interrupted. Real subprocesses of the `ranksrgan train` CLI, tiny networks.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from ranksrgan.archs import build
from tests.support import REPO
from tests.support.kill import kill_after_checkpoint
from tests.support.train_inputs import TINY_GAN, make_dataset, write_config


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    make_dataset(root, "tr", photos=("astronaut", "coffee"), max_side=256)
    make_dataset(root, "va", photos=("chelsea",), max_side=200)
    return root


def _cmd(cfg: Path, preset: str, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ranksrgan",
        "train",
        "--config",
        str(cfg),
        "--preset",
        preset,
        "--out",
        str(out),
        "--device",
        "cpu",
    ]


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_sigkill_then_rerun_equals_uninterrupted_run(workspace):
    cfg = write_config(workspace, {"tiny_gan": TINY_GAN})
    ref_out, out = workspace / "ref", workspace / "killed"
    ref = _run(_cmd(cfg, "tiny_gan", ref_out))
    assert ref.returncode == 0, ref.stderr[-2000:]

    killed_at, rc = kill_after_checkpoint(_cmd(cfg, "tiny_gan", out), REPO, out / "checkpoint", 12)
    assert killed_at is not None and rc == -signal.SIGKILL, "not killed mid-run"
    assert not (out / "G.pth").exists()

    again = _run(_cmd(cfg, "tiny_gan", out))
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resumed at iteration" in again.stderr

    log_ref = pd.read_parquet(ref_out / "train_log.parquet")
    log_res = pd.read_parquet(out / "train_log.parquet")
    assert len(log_ref) == TINY_GAN["iterations"]  # log_every 1
    assert {"l_pix", "l_mse", "l_percep", "l_gan", "l_rank", "l_d"} <= set(log_ref.columns)
    assert log_ref["l_g_total"].notna().all() and log_ref["lr_g"].iloc[-1] == 1e-3 * 0.25
    pd.testing.assert_frame_equal(log_ref, log_res, check_exact=True)
    pd.testing.assert_frame_equal(
        pd.read_parquet(ref_out / "val.parquet"),
        pd.read_parquet(out / "val.parquet"),
        check_exact=True,
    )
    g_ref = torch.load(ref_out / "G.pth", weights_only=True)
    g_res = torch.load(out / "G.pth", weights_only=True)
    assert g_ref.keys() == g_res.keys()
    assert all(torch.equal(g_ref[k], g_res[k]) for k in g_ref)
    # issue 19: identical runs give identical G.pth bytes (stable weights_sha256)
    assert (ref_out / "G.pth").read_bytes() == (out / "G.pth").read_bytes()


def test_exported_generator_and_metadata(workspace):
    out = workspace / "ref"
    if not (out / "G.pth").is_file():
        pytest.skip("needs the uninterrupted run of the resume test")
    state = torch.load(out / "G.pth", weights_only=True)
    want = build("srresnet", nf=8, nb=1).state_dict()
    assert list(state) == list(want)  # authors' key layout: conv_first, recon_trunk.0.conv1, ...
    assert all(v.dtype == torch.float32 and v.device.type == "cpu" for v in state.values())
    meta = json.loads((out / "G.json").read_text())
    assert meta["preset"] == "tiny_gan" and meta["iterations"] == TINY_GAN["iterations"]
    # the one stand-in encoding (ranksrgan.io.contracts): a note string, no labels list
    assert "labels" not in meta and {"test run", "random perceptual weights",
                                     "random Ranker"} <= set(meta["stand_in"].split("; "))
    val = pd.read_parquet(out / "val.parquet")
    assert sorted(val["iteration"].unique()) == [12, 24, 36]
    assert val["stand_in"].str.contains("random").all() and val["niqe"].notna().all()
    psnr = val.set_index("iteration")["psnr"]
    assert psnr[36] > psnr[12]  # training from scratch improves fidelity
