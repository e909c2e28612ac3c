"""Issue 22 round 3, both trainers: a checkpoint is resumed only when every input that shaped
it is the same (else the run starts over, saying why), the stage CLIs reject numeric
arguments below the schema's minimums at parse time, and one run at a time writes into an
output folder. Tiny real networks, real photos and a real rank index, a few iterations each.
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from ranksrgan.archs import build
from ranksrgan.cli import build_parser, main
from ranksrgan.errors import RankSRGANError
from ranksrgan.fit import export_weights, load_checkpoint
from ranksrgan.fit.resume import ResumeDecision, resume_decision, run_key
from ranksrgan.io.folderlock import LOCK_NAME, folder_lock
from ranksrgan.train.engine import Trainer, TrainPaths
from ranksrgan.train.options import options_from_config
from tests.support import REPO
from tests.support.rank_index import make_rank_index
from tests.support.train_inputs import TINY_GAN, make_dataset

CPU = torch.device("cpu")


# --------------------------------------------------------------------------- the toolkit rule
def test_run_key_hashes_settings_canonically_and_files_by_content(tmp_path):
    a, b = tmp_path / "a.pth", tmp_path / "b.pth"
    a.write_bytes(b"weights one")
    b.write_bytes(b"weights one")
    k1 = run_key({"options": {"x": 1, "y": (2, 3)}}, {"ranker": a, "data": [a, b], "vgg": None})
    k2 = run_key({"options": {"y": [2, 3], "x": 1}}, {"ranker": b, "data": [b, a], "vgg": None})
    assert k1 == k2  # key order, tuple vs list and file names do not matter; bytes do
    assert k1["vgg"] is None and len(k1["ranker"]) == 64 and len(k1["data"]) == 2
    b.write_bytes(b"weights two")
    assert run_key({}, {"ranker": b})["ranker"] != k1["ranker"]
    with pytest.raises(ValueError, match="names used twice"):
        run_key({"x": 1}, {"x": a})


def test_resume_decision_names_what_changed_in_one_line():
    key = {"options": "o1", "ranker": "r1", "init": None}
    where = "out/checkpoint/last.pth"
    assert resume_decision(None, key, where).resume is False
    same = resume_decision({"iteration": 7, "run_key": dict(key)}, key, where)
    assert same == ResumeDecision(True, f"{where}: same inputs, resuming at iteration 7")
    other = resume_decision({"iteration": 7, "run_key": {**key, "ranker": "r2"}}, key, where)
    assert not other.resume
    assert other.reason == f"{where} was made with other inputs (ranker changed): starting over"
    both = resume_decision({"run_key": {"options": "o2", "ranker": "r1"}}, key, where)
    assert "(init, options changed)" in both.reason and "\n" not in both.reason
    old = resume_decision({"iteration": 3, "config_sha256": "abc"}, key, where)
    assert not old.resume and "no run key" in old.reason


# --------------------------------------------------------------------------- GAN trainer
def _ranker_file(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    export_weights(build("ranker_vgg8", nf=4), path)
    return path


def _init_file(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    export_weights(build("srresnet", nf=8, nb=1), path)
    return path


@pytest.fixture(scope="module")
def gan(tmp_path_factory):
    """Inputs of a tiny pixel + rank-content preset: two Rankers, two inits, two manifests."""
    root = tmp_path_factory.mktemp("gan")
    preset = copy.deepcopy(TINY_GAN)
    preset.update(discriminator=None, iterations=4, checkpoint_every=2, log_every=1)
    preset["data"].update(val=None, val_images=0, hr_patch=32, batch_size=2)
    preset["losses"] = {
        "pixel": {"weight": 1.0, "criterion": "l1"},
        # a large weight so that another Ranker visibly changes the generator
        "rank": {
            "weight": 10.0,
            "ranker": {"source": "path", "arch": "ranker_vgg8", "options": {"nf": 4}},
        },
    }
    return {
        "root": root,
        "preset": preset,
        "tr": make_dataset(root, "tr", photos=("astronaut",), max_side=96),
        "tr2": make_dataset(root, "tr2", photos=("coffee",), max_side=96),
        "r1": _ranker_file(root / "r1" / "model.pth", 1),
        "r2": _ranker_file(root / "r2" / "model.pth", 2),
        "i1": _init_file(root / "i1" / "G.pth", 1),
        "i2": _init_file(root / "i2" / "G.pth", 2),
    }


def _train(gan, out: Path, ranker="r1", init="i1", manifest="tr", lr_g=None) -> Path:
    preset = copy.deepcopy(gan["preset"])
    if lr_g is not None:
        preset["optim"]["lr_g"] = lr_g
    train = {
        "runtime": {"precision": "fp32", "channels_last": False, "compile": False, "workers": 0},
        "presets": {"tiny": preset},
    }
    paths = TrainPaths(
        out_dir=out,
        train_manifests=(gan[manifest],),
        init=gan[init],
        rankers=(gan[ranker],),
        cache_dir=gan["root"] / "cache",
    )
    return Trainer(options_from_config(train, "tiny"), paths, CPU).run()


@pytest.fixture(scope="module")
def finished(gan):
    """A GAN-trainer run trained to completion (checkpoint at its last iteration)."""
    out = gan["root"] / "base"
    g = _train(gan, out)
    assert load_checkpoint(out / "checkpoint")["iteration"] == 4
    return out, g.read_bytes()


def _rerun(gan, finished, name: str, caplog, **change) -> tuple[bytes, str]:
    """Rerun a copy of the finished run with ``change``; (G.pth bytes, log text)."""
    out = gan["root"] / name
    shutil.copytree(finished[0], out)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        g = _train(gan, out, **change)
    return g.read_bytes(), caplog.text


def test_gan_unchanged_rerun_resumes_byte_identically(gan, finished, caplog):
    g, text = _rerun(gan, finished, "same", caplog)
    assert "preset tiny: resumed at iteration 4" in text and "starting over" not in text
    assert g == finished[1]


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"ranker": "r2"}, "ranker changed"),
        ({"init": "i2"}, "init changed"),
        ({"manifest": "tr2"}, "train_manifests changed"),
        ({"lr_g": 5e-4}, "options changed"),  # once refused with an error; now the same rule
    ],
    ids=["ranker", "init", "data", "options"],
)
def test_gan_rerun_with_changed_input_starts_over(gan, finished, caplog, change, names):
    """issue 22.1: rerun after the Ranker (init, data) changed "resumed at iteration 4" and
    exported the old generator again."""
    g, text = _rerun(gan, finished, f"changed-{'-'.join(change)}", caplog, **change)
    assert "resumed" not in text
    lines = [ln for ln in text.splitlines() if "starting over" in ln]
    assert len(lines) == 1 and f"({names}): starting over" in lines[0]
    assert g != finished[1]
    # started over = exactly what a fresh run on the new inputs gives
    fresh = _train(gan, gan["root"] / f"fresh-{'-'.join(change)}", **change)
    assert g == fresh.read_bytes()


# --------------------------------------------------------------------------- Ranker trainer
def _ranker_args(index: Path, out: Path, *extra: str) -> list[str]:
    return [
        "ranker", "train", "--index", str(index), "--out", str(out), "--name", "r",
        "--arch", "ranker_vgg8", "--arch-options", '{"nf": 4}', "--batch-size", "4",
        "--lr", "1e-3", "--milestones", "20", "--workers", "0", "--device", "cpu",
        "--iterations", "6", "--checkpoint-every", "2", "--log-every", "2", *extra,
    ]  # fmt: skip


def test_ranker_rerun_resumes_unless_the_index_changed(tmp_path, caplog):
    """issue 22.1 for the Ranker trainer: the rank index's sha256 is part of the key."""
    index = make_rank_index(tmp_path)
    out = tmp_path / "r"
    assert main(_ranker_args(index, out)) == 0
    first = (out / "model.pth").read_bytes()

    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert main(_ranker_args(index, out)) == 0
    assert "ranker r: resumed at iteration 6" in caplog.text
    assert (out / "model.pth").read_bytes() == first

    df = pd.read_parquet(index)  # the rank dataset rebuilt with other labels, same path
    df["label"] = -df["label"]
    df.to_parquet(index, index=False)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert main(_ranker_args(index, out)) == 0
    assert "resumed" not in caplog.text
    assert "(index changed): starting over" in caplog.text
    again = (out / "model.pth").read_bytes()
    assert again != first
    assert main(_ranker_args(index, tmp_path / "fresh")) == 0
    assert (tmp_path / "fresh" / "model.pth").read_bytes() == again


def test_ranker_engine_rejects_counts_below_one(tmp_path):
    from ranksrgan.ranker.engine import RankerPaths, RankerTrainer
    from ranksrgan.ranker.options import RankerOptions

    index = make_rank_index(tmp_path)
    for key in ("batch_size", "iterations", "checkpoint_every", "log_every"):
        opts = RankerOptions(name="bad", arch="ranker_vgg8", workers=0, **{key: 0})
        with pytest.raises(RankSRGANError, match=f"ranker bad: {key} must be an integer >= 1"):
            RankerTrainer(opts, RankerPaths(index=index, out_dir=tmp_path / "o"), CPU)
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- numeric arguments
BAD_ARGS = [
    # ranker train (issue 22.9: IndexError, ZeroDivisionError, an untrained model exported)
    ("ranker train", "--batch-size", "0"),
    ("ranker train", "--batch-size", "-3"),
    ("ranker train", "--checkpoint-every", "0"),
    ("ranker train", "--log-every", "0"),
    ("ranker train", "--iterations", "0"),
    ("ranker train", "--iterations", "-5"),
    ("ranker train", "--lr", "0"),
    ("ranker train", "--gamma", "-0.5"),
    ("ranker train", "--weight-decay", "-1e-4"),
    ("ranker train", "--margin", "-1"),
    ("ranker train", "--clamp", "0"),
    ("ranker train", "--milestones", "0"),
    ("ranker train", "--patch", "16"),
    ("ranker train", "--seed", "-1"),
    ("ranker train", "--workers", "-1"),
    ("ranker train", "--lr", "nan"),
    ("ranker train", "--iterations", "ten"),
    # data download: the one fetch command (archives, weights, VGG19, the NRQM model)
    ("data download", "--size", "0"),
    ("data download", "--backoff-s", "-2"),
    ("data download", "--timeout-s", "inf"),
    # data
    ("data download", "--retries", "-1"),
    ("data download", "--timeout-s", "0"),
    ("data prepare", "--images", "0"),
    ("data prepare", "--min-size", "0"),
    ("data demo-source", "--max-side", "32"),
    # sr
    ("sr run", "--shard-size", "0"),
    ("sr run", "--shard", "-1"),
    ("sr run", "--tile", "-1"),
    ("sr run", "--tile-pad", "-2"),
    ("sr gather", "--images", "0"),
    # score
    ("score run", "--shard-size", "0"),
    ("score run", "--shave", "-1"),
    ("score synthetic-nrqm", "--trees", "0"),
    # rankdata
    ("rankdata shard", "--size", "0"),
    ("rankdata shard", "--batch", "0"),
    ("rankdata shard", "--max-per-image", "0"),
    ("rankdata shard", "--sharpness-min", "-1"),
    ("rankdata gather", "--val-fraction", "1"),
    # report has no numeric arguments
]


@pytest.mark.parametrize(("command", "flag", "value"), BAD_ARGS)
def test_numeric_argument_below_the_schema_minimum_is_a_one_line_error(
    command, flag, value, capsys
):
    with pytest.raises(SystemExit) as exc:
        main([*command.split(), f"{flag}={value}"])  # '=': "-1e-4" alone looks like a flag
    assert exc.value.code != 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"ranksrgan {command}: error: argument {flag}: expected ")
    assert repr(value) in last


def test_numeric_arguments_at_their_minimum_and_words_still_parse():
    parser = build_parser()
    args = parser.parse_args(
        ["ranker", "train", "--index", "i", "--out", "o", "--iterations", "1", "--patch", "32"]
        + ["--workers", "0", "--weight-decay", "0", "--margin", "0", "--milestones", "1", "2"]
    )
    assert (args.iterations, args.patch, args.workers, args.milestones) == (1, 32, 0, [1, 2])
    sr = ["sr", "run", "--manifest", "m", "--method", "x", "--shard", "0", "--shard-size", "1"]
    sr += ["--out-dir", "d", "--shard-out", "s"]
    assert parser.parse_args([*sr, "--tile-pad", "auto"]).tile_pad is None
    assert parser.parse_args([*sr, "--tile-pad", "0"]).tile_pad == 0
    shard = ["rankdata", "shard", "--dataset", "d", "--data-manifest", "m", "--level", "a=b"]
    shard += ["--out", "o"]
    args = parser.parse_args([*shard, "--max-per-image", "off", "--sharpness-min", "0"])
    assert args.max_per_image is None and args.sharpness_min == 0.0
    gather = ["rankdata", "gather", "--shard", "s", "--out", "o", "--images", "i", "--stats", "t"]
    assert parser.parse_args([*gather, "--val-fraction", "0"]).val_fraction == 0.0


# --------------------------------------------------------------------------- one run per --out
HOLDER = """
import sys, time
from pathlib import Path
from ranksrgan.io.folderlock import LOCK_NAME, folder_lock
out = Path(sys.argv[1])
with folder_lock(out, "test holder", out / "checkpoint" / LOCK_NAME):
    print("held", flush=True)
    time.sleep(600)
"""


def _hold(out: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def _release(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)  # killed, not exited: the kernel still drops the flock
    proc.wait(timeout=30)


def test_second_ranker_run_into_a_locked_out_fails_at_once(tmp_path, capsys):
    """issue 22.10: two Ranker runs into one --out ran side by side, the last won every file."""
    index = make_rank_index(tmp_path)
    out = tmp_path / "r"
    proc = _hold(out)
    try:
        t0 = time.monotonic()
        assert main(_ranker_args(index, out)) == 1
        assert time.monotonic() - t0 < 20  # at once: no training, no cache decoding
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {out}: another Ranker training ")
        assert f"pid {proc.pid}," in err[0]
        assert not (out / "model.pth").exists() and not (out / "cache").exists()
    finally:
        _release(proc)
    assert main(_ranker_args(index, out)) == 0  # released with its holder
    assert (out / "model.pth").is_file()


def test_second_gan_run_into_a_locked_out_fails_at_once(gan, tmp_path):
    out = tmp_path / "g"
    proc = _hold(out)
    try:
        with pytest.raises(RankSRGANError) as exc:
            _train(gan, out)
        msg = str(exc.value)
        assert msg.startswith(f"{out}: another training is writing into this folder (pid ")
        assert f"pid {proc.pid}," in msg and "\n" not in msg
        assert not (out / "G.pth").exists()
    finally:
        _release(proc)
    assert _train(gan, out).is_file()


def test_folder_lock_is_exclusive_within_a_process_and_released_on_exit(tmp_path):
    with folder_lock(tmp_path, "first run") as path:
        assert path == tmp_path / LOCK_NAME and f'"pid": {os.getpid()}' in path.read_text()
        with pytest.raises(RankSRGANError, match="another second run is writing"):
            with folder_lock(tmp_path, "second run"):
                pass
    with folder_lock(tmp_path, "second run"):  # released when the first block ended
        pass
