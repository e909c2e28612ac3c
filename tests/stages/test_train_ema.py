"""EMA of the generator (issue 25 item 6, BasicSR's ``ema_decay``): the average follows the
recursion ``ema = d * ema + (1 - d) * G`` after every iteration, resumes from the checkpoint,
and is exported as its own weights file with metadata; off unless a preset sets it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ranksrgan.errors import RankSRGANError
from ranksrgan.io import sha256_file
from tests.support import REPO
from tests.support.train_inputs import make_dataset, write_config

PIXEL = {
    "description": "tiny pixel-loss preset with an EMA of G",
    "generator": {"arch": "srresnet", "options": {"nf": 8, "nb": 1}},
    "init": None,
    "iterations": 6,
    "seed": 2,
    "ema_decay": 0.9,
    "data": {"train": ["tr"], "val": None, "hr_patch": 64, "batch_size": 2},
    "optim": {"lr_g": 1e-3, "betas": [0.9, 0.99]},
    "scheduler": {"milestones": [100], "gamma": 0.5},
    "losses": {"pixel": {"weight": 1.0, "criterion": "l1"}},
    "checkpoint_every": 3,
    "log_every": 1,
}


def _trainer(tmp_path: Path, decay: float):
    from ranksrgan.train.engine import Trainer, TrainPaths
    from ranksrgan.train.options import DataOptions, LossOptions, NetSpec, TrainOptions

    opts = TrainOptions(
        name="ema", generator=NetSpec("srresnet", {"nf": 8, "nb": 1}), discriminator=None,
        init=None, data=DataOptions(train=("x",), val=None, hr_patch=32, batch_size=2),
        losses=LossOptions(pixel_weight=1.0), iterations=3, seed=0, lr_g=1e-2, lr_d=1e-2,
        betas=(0.9, 0.99), weight_decay_g=0.0, weight_decay_d=0.0, milestones=(), gamma=0.5,
        precision="fp32", channels_last=False,
    )  # fmt: skip
    return Trainer(opts, TrainPaths(tmp_path / "out", ()), torch.device("cpu"), ema_decay=decay)


def test_ema_follows_the_recursion_from_the_initial_generator(tmp_path):
    tr = _trainer(tmp_path, 0.75)
    expected = {k: v.clone() for k, v in tr.G.state_dict().items()}
    assert all(torch.equal(expected[k], v) for k, v in tr.G_ema.state_dict().items())
    g = torch.Generator().manual_seed(0)
    for i in range(3):
        lr = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8, generator=g)
        hr = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=g)
        tr.step(lr, hr, i)
        for k, v in tr.G.state_dict().items():
            expected[k] = 0.75 * expected[k] + 0.25 * v
    for k, v in tr.G_ema.state_dict().items():
        assert torch.allclose(v, expected[k], atol=1e-7), k
    assert not torch.allclose(tr.G_ema.conv_first.weight, tr.G.conv_first.weight, atol=1e-4)
    assert not any(p.requires_grad for p in tr.G_ema.parameters())
    # kept in the checkpoint's part and restored
    fresh = _trainer(tmp_path, 0.75)
    fresh.restore(tr.state())
    kept = tr.G_ema.state_dict()
    assert all(torch.equal(v, kept[k]) for k, v in fresh.G_ema.state_dict().items())
    assert _trainer(tmp_path, 0.0).G_ema is None and "G_ema" not in _trainer(tmp_path, 0).state()
    with pytest.raises(RankSRGANError, match=r"train.presets.ema.ema_decay': must be in \[0, 1\)"):
        _trainer(tmp_path, 1.0)


def test_ema_weights_are_exported_with_their_metadata_and_resume(tmp_path):
    make_dataset(tmp_path, "tr", photos=("astronaut",), max_side=128)
    cfg = write_config(tmp_path, {"tiny_ema": PIXEL})
    out = tmp_path / "train" / "tiny_ema"
    cmd = [sys.executable, "-m", "ranksrgan", "train", "--config", str(cfg), "--preset",
           "tiny_ema", "--out", str(out), "--device", "cpu"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    g = torch.load(out / "G.pth", weights_only=True)
    e = torch.load(out / "G_ema.pth", weights_only=True)
    assert g.keys() == e.keys() and not torch.equal(g["conv_first.weight"], e["conv_first.weight"])
    meta = json.loads((out / "G.json").read_text())
    ema = json.loads((out / "G_ema.json").read_text())
    assert meta["ema"] == {"decay": 0.9, "weights": "G_ema.pth"}
    assert ema["weights_variant"] == "ema" and ema["ema_decay"] == 0.9
    assert (ema["arch"], ema["arch_options"], ema["preset"]) == ("srresnet", {"nf": 8, "nb": 1},
                                                                 "tiny_ema")  # fmt: skip
    assert ema["weights_sha256"] == sha256_file(out / "G_ema.pth") != meta["weights_sha256"]
    ck = torch.load(out / "checkpoint" / "last.pth", weights_only=True)
    assert all(torch.equal(ck["G_ema"][k], e[k]) for k in e)

    # a finished run rerun resumes (the same inputs) and exports the same average, bit for bit
    before = (out / "G_ema.pth").read_bytes()
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "resumed at iteration 6" in again.stderr
    assert (out / "G_ema.pth").read_bytes() == before


def _demo_with_ema(tmp_path, ema_decay):
    import yaml

    repo = REPO
    cfg = yaml.safe_load((repo / "config" / "demo.yaml").read_text())
    cfg["results_dir"] = str(tmp_path / "results")
    if ema_decay is not None:
        cfg["train"]["presets"]["srgan"]["ema_decay"] = ema_decay
    cfg["methods"]["srgan_ema"] = {"kind": "network", "train_preset": "srgan",
                                   "weights_variant": "ema"}
    cfg["sr"]["methods"].append("srgan_ema")
    path = tmp_path / "ema.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return repo, path


def test_ema_generator_is_an_sr_method_of_its_own(tmp_path):
    """`weights_variant: ema` runs the preset's G_ema.pth (an output of its train rule) beside
    the method that runs G.pth, so a user compares the two."""
    import subprocess
    import sys

    repo, config = _demo_with_ema(tmp_path, 0.9)
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "-n", "-p", "--forceall", "--nolock",
         "--configfile", str(config)],
        cwd=repo, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    train_dir = f"{tmp_path}/results/train/srgan"
    shells = [ln for ln in proc.stdout.splitlines() if "ranksrgan sr run" in ln]
    ema_runs = [ln for ln in shells if "--method srgan_ema" in ln]
    assert ema_runs and all(f"--weights {train_dir}/G_ema.pth" in ln for ln in ema_runs)
    assert any(f"--weights {train_dir}/G.pth" in ln and "--method srgan " in ln for ln in shells)
    assert f"{train_dir}/G_ema.pth" in proc.stdout  # an output of train_srgan


def test_ema_method_needs_a_preset_with_ema(tmp_path):
    import yaml

    from ranksrgan.config import validate_config

    _, config = _demo_with_ema(tmp_path, None)
    with pytest.raises(RankSRGANError, match=r"'methods.srgan_ema.weights_variant': ema needs"):
        validate_config(yaml.safe_load(config.read_text()), None, "ema.yaml")
