"""issue 25.0: one training loop (src/ranksrgan/fit/loop.py) under both trainers. Each rule
the two engines used to copy (and let drift) is tested once here: precision and memory
format, autocast on the device's own type, Adam + MultiStepLR, the flush -> finite check ->
row interval (the last iteration always logged), the checkpoint's common part, and strict
JSON (NaN -> null) in every metadata file.
"""

from __future__ import annotations

import copy
import json
import logging
import math

import pytest
import torch

from ranksrgan.errors import RankSRGANError
from ranksrgan.fit import load_checkpoint, write_metadata
from ranksrgan.fit.loop import Placement, StepLog, adam_multistep
from ranksrgan.io.precision import autocast
from ranksrgan.ranker.engine import RankerPaths, RankerTrainer
from ranksrgan.ranker.options import RankerOptions
from ranksrgan.train.engine import Trainer, TrainPaths
from ranksrgan.train.options import options_from_config
from tests.support.rank_index import make_rank_index
from tests.support.train_inputs import TINY_GAN, make_dataset

CPU = torch.device("cpu")


def _strict_json(path):
    def refuse(token):
        raise AssertionError(f"{path}: non-standard JSON token {token}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_placement_rule_bf16_and_channels_last_on_cuda_only():
    cuda = torch.device("cuda")  # the rule only reads the device type: no GPU needed
    on_gpu = Placement.for_training(cuda, "bf16", channels_last=True)
    assert on_gpu.amp and on_gpu.memory_format == torch.channels_last
    assert not Placement.for_training(cuda, "fp32", channels_last=False).amp
    on_cpu = Placement.for_training(CPU, "bf16", channels_last=True)
    assert not on_cpu.amp and on_cpu.memory_format == torch.contiguous_format
    assert Placement.for_training(CPU, "bf16", True, cpu_bf16=True).amp  # benchmarks only

    x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    y = on_cpu.images(x)
    assert y.dtype == torch.float32 and torch.equal(y, x.float() / 255)
    a = torch.rand(4, 4)
    with Placement.for_training(CPU, "bf16", False, cpu_bf16=True).autocast():
        assert (a @ a).dtype == torch.bfloat16  # autocast on the device's type, not "cuda"
    with on_cpu.autocast():
        assert (a @ a).dtype == torch.float32


def test_autocast_by_name_is_what_inference_can_use_too():
    a = torch.rand(4, 4)
    with autocast(CPU, "bf16"):
        assert (a @ a).dtype == torch.bfloat16
    with autocast("cpu", "fp32"):
        assert (a @ a).dtype == torch.float32
    with pytest.raises(RankSRGANError, match="unknown precision 'fp8'"):
        autocast(CPU, "fp8")


def test_adam_multistep_decays_at_the_milestones():
    w = torch.nn.Parameter(torch.zeros(3))
    opt, sched = adam_multistep([w], CPU, 1e-2, (0.9, 0.99), 0.0, (2, 4), 0.5)
    lrs = []
    for _ in range(5):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == pytest.approx([1e-2, 5e-3, 5e-3, 2.5e-3, 2.5e-3])
    assert opt.defaults["betas"] == (0.9, 0.99)


def test_steplog_rows_are_interval_means_checked_before_logging():
    steps = StepLog(["loss", "acc"], "ranker t")
    assert steps.flush(0, {}) is None  # nothing pending: no row
    steps.add(torch.tensor([1.0, 0.5]))
    steps.add(torch.tensor([3.0, 1.0]))
    row = steps.flush(2, {"lr": 0.1})
    assert row == {"iteration": 2, "n": 2, "loss": 2.0, "acc": 0.75, "lr": 0.1}
    steps.add(torch.tensor([1.0, 1.0]))
    steps.add(torch.tensor([float("nan"), 1.0]))
    with pytest.raises(RankSRGANError, match="ranker t: training step at iteration 4 .*loss = nan"):
        steps.flush(4, {})
    assert steps.rows == [row]  # the diverged interval is never logged


# --------------------------------------------------------------------------- both trainers
def _gan(tmp_path, iterations=5, log_every=2):
    preset = copy.deepcopy(TINY_GAN)
    preset.update(discriminator=None, iterations=iterations, checkpoint_every=2)
    preset.update(log_every=log_every, val_every=1000)
    preset["data"].update(val=None, val_images=0, hr_patch=32, batch_size=2)
    preset["losses"] = {"pixel": {"weight": 1.0, "criterion": "l1"}}
    train = {
        "runtime": {"precision": "fp32", "channels_last": False, "compile": False, "workers": 0},
        "presets": {"tiny": preset},
    }
    manifest = make_dataset(tmp_path, "tr", photos=("astronaut",), max_side=96)
    paths = TrainPaths(
        out_dir=tmp_path / "gan", train_manifests=(manifest,), cache_dir=tmp_path / "cache"
    )
    return Trainer(options_from_config(train, "tiny"), paths, CPU)


def _ranker(tmp_path, iterations=5, log_every=2):
    opts = RankerOptions(
        name="tiny",
        arch="ranker_vgg8",
        arch_options={"nf": 4},
        batch_size=2,
        iterations=iterations,
        checkpoint_every=2,
        log_every=log_every,
        workers=0,
    )
    index = make_rank_index(tmp_path / "rank")
    return RankerTrainer(opts, RankerPaths(index=index, out_dir=tmp_path / "ranker"), CPU)


@pytest.mark.parametrize("make", [_gan, _ranker], ids=["gan", "ranker"])
def test_both_trainers_log_each_interval_and_the_last_iteration(tmp_path, caplog, make):
    trainer = make(tmp_path)
    with caplog.at_level(logging.INFO):
        trainer.run()
    assert [r["iteration"] for r in trainer.log_rows] == [2, 4, 5]
    assert [r["n"] for r in trainer.log_rows] == [2, 2, 1]
    lines = [r.getMessage() for r in caplog.records if " it " in r.getMessage()]
    assert [ln.split(" it ")[1].split()[0] for ln in lines] == ["2/5", "4/5", "5/5"]
    assert all(ln.startswith(f"{trainer.what} it ") for ln in lines)
    ck = load_checkpoint(trainer.out / "checkpoint")
    # one checkpoint layout around each trainer's own networks
    assert ck["iteration"] == 5 and ck["log_rows"] == trainer.log_rows
    assert ck["run_key"] == trainer.run_key and {"python", "numpy", "torch"} <= set(ck["rng"])


def test_nan_in_metadata_is_null_for_both_trainers(tmp_path):
    """Only the Ranker turned NaN into null; G.json held the token NaN (not JSON) when a
    validation NIQE was undefined (a flat early-GAN output)."""
    trainer = _gan(tmp_path, iterations=2)
    g = trainer.run(lambda net: [{"image": "flat", "psnr": 12.0, "niqe": float("nan")}])
    meta = _strict_json(g.with_suffix(".json"))
    assert meta["last_validation"] == {"iteration": 2, "psnr": 12.0, "niqe": None}

    ranker = _ranker(tmp_path, iterations=2)
    ranker.index.rows["split"] = "train"  # no validation rows: every correlation undefined
    ranker.run()
    assert _strict_json(ranker.out / "eval_summary.json")["srocc"] is None
    assert _strict_json(ranker.out / "model.json")["eval"]["srocc"] is None

    write_metadata(tmp_path / "w.pth", {"a": [math.inf, (1, -math.inf)], 2: float("nan")})
    assert _strict_json(tmp_path / "w.json") == {"a": [None, [1, None]], "2": None}
