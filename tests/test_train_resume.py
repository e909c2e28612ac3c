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
import yaml
from _kill import kill_after_checkpoint
from test_train_data import make_dataset

from ranksrgan.archs import build

REPO = Path(__file__).resolve().parents[1]

TINY_GAN = {
    "description": "tiny RankSRGAN-like preset: every generator term plus a D step",
    "labels": ["test run"],
    "generator": {"arch": "srresnet", "options": {"nf": 8, "nb": 1}},
    "discriminator": {"arch": "discriminator_vgg128", "options": {"nf": 4}},
    "init": None,
    "iterations": 36,
    "seed": 3,
    "data": {
        "train": ["tr"],
        "val": "va",
        "val_images": 1,
        "hr_patch": 128,
        "batch_size": 2,
        "flip": True,
        "rotate": True,
        "lr_source": "manifest",
    },
    "optim": {"lr_g": 1e-3, "lr_d": 1e-3, "betas": [0.9, 0.99]},
    "scheduler": {"milestones": [10, 20], "gamma": 0.5},
    "losses": {
        "pixel": {"weight": 1.0e-2, "criterion": "l1"},
        "mse": {"weight": 1.0},
        "perceptual": {"weight": 1.0, "layer": "conv2_2", "criterion": "l1", "weights": "random"},
        "gan": {"weight": 5.0e-3, "kind": "vanilla"},
        "rank": {
            "weight": 3.0e-2,
            "bias": 0.0,
            "bn_mode": "batch",
            "ranker": {"source": "random", "arch": "ranker_vgg8", "options": {"nf": 4}, "seed": 1},
        },
    },
    "checkpoint_every": 6,
    "val_every": 12,
    "log_every": 1,
}


def write_config(root: Path, presets: dict) -> Path:
    """A valid pipeline config (the demo's global sections) with our own train section."""
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["results_dir"] = str(root)
    cfg["cache_dir"] = str(root / "cache")
    cfg["train"] = {
        "targets": list(presets),
        "runtime": {"precision": "fp32", "channels_last": False, "compile": False, "workers": 0},
        # the demo's presets stay: other sections (methods.*.train_preset) refer to them
        "presets": {**cfg["train"]["presets"], **presets},
    }
    for preset in presets.values():  # the test's own datasets, declared like the demo's
        data = preset.get("data", {})
        for ds in [*data.get("train", []), *([data["val"]] if data.get("val") else [])]:
            cfg["datasets"].setdefault(ds, {**cfg["datasets"]["demo_train"], "images": 1})
    root.mkdir(parents=True, exist_ok=True)
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


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
    assert meta["stand_in"] is True
    assert {"test run", "random perceptual weights", "random Ranker"} <= set(
        meta["labels"]
    )
    val = pd.read_parquet(out / "val.parquet")
    assert sorted(val["iteration"].unique()) == [12, 24, 36]
    assert val["stand_in"].str.contains("random").all() and val["niqe"].notna().all()
    psnr = val.set_index("iteration")["psnr"]
    assert psnr[36] > psnr[12]  # training from scratch improves fidelity
