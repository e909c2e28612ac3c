"""Training on several processes (issue 25): both trainers under ``torchrun`` with gloo on the
CPU, 2 processes, tiny networks, compared with 1 process and ``bn_replicas: 2``.

Tolerance of the 2-process vs 1-process comparisons, and why: the 2 processes average two
slice gradients where 1 process sums one batch, in another order, so gradients agree to float
rounding (~1e-7 relative), and so do the losses of the next iterations (checked to 1e-5
relative over the short, well-conditioned runs here; a long run drifts further, as any two
float summation orders do). Weights are checked to 1e-5, except the convolution biases that
feed a train-mode BatchNorm: their gradient is zero in exact arithmetic (BatchNorm removes
the mean), so what each run computes is rounding noise, which Adam's normalised step
``m / (sqrt(v) + eps)`` turns into steps of up to ``lr`` in either direction; they (and the
running means that absorb them) are only checked to ``2 * lr * iterations``. They do not
change a train-mode output.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from ranksrgan.errors import RankSRGANError
from ranksrgan.fit.dist import (
    ProcessGroup,
    launch_from_env,
    replica_forward_first_stats,
)
from tests.support import REPO
from tests.support.rank_index import make_rank_index
from tests.support.train_inputs import make_dataset

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
LR = 1e-4


# ------------------------------------------------------------------------------ units
def test_launch_is_read_from_torchrun_then_slurm_variables():
    assert launch_from_env({}).world_size == 1
    t = launch_from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert (t.rank, t.world_size, t.local_rank, t.source) == (1, 2, 1, "torchrun")
    slurm = {"SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_LOCALID": "1"}
    with pytest.raises(RankSRGANError, match="MASTER_ADDR and MASTER_PORT not set"):
        launch_from_env(slurm)
    s = launch_from_env({**slurm, "MASTER_ADDR": "n1", "MASTER_PORT": "29500"})
    assert (s.rank, s.world_size, s.local_rank, s.source) == (3, 4, 1, "slurm")
    assert launch_from_env({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}).source == "single"
    with pytest.raises(RankSRGANError, match="RANK='x' is not an integer"):
        launch_from_env({"RANK": "x", "WORLD_SIZE": "2"})


def test_bn_replicas_and_world_size_must_agree_where_batchnorm_is_trained():
    two = ProcessGroup(rank=1, world_size=2)
    key = "train.presets.p.bn_replicas"
    with pytest.raises(RankSRGANError, match=r"^train.presets.p.bn_replicas: 1 BatchNorm") as e:
        two.local_replicas(1, 8, key, uses_batch_stats=True)
    assert "\n" not in str(e.value)
    assert two.local_replicas(2, 8, key, True) == 1
    assert two.local_replicas(4, 8, key, True) == 2
    assert two.local_replicas(1, 8, key, uses_batch_stats=False) == 1  # no BN: any world size
    with pytest.raises(RankSRGANError, match="do not split the global batch 6"):
        two.local_replicas(4, 6, key, True)
    assert ProcessGroup().local_replicas(3, 8, key, True) == 3  # one process: as configured
    assert two.batch_slice(8, "k") == range(4, 8)
    with pytest.raises(RankSRGANError, match="k: the global batch 5 does not split over 2"):
        two.batch_slice(5, "k")


def test_progress_line_gives_rate_and_time_left():
    from ranksrgan.fit.loop import progress_text

    assert progress_text(10.0, 100, 3725 * 10) == "10 it/s, 100.0 ms/it, 1:02:05 left"
    assert progress_text(0.0, 0, 5) == "rate n/a"


def test_replicas_keep_the_first_chunks_running_statistics():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    ref = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    ref.load_state_dict(net.state_dict())
    x = torch.randn(8, 3, 9, 9)
    out = replica_forward_first_stats(net, x, 2)
    assert torch.allclose(out[:4], ref(x[:4]), atol=1e-6)  # ref: one update, chunk 0's
    bn, bn_ref = net[1], ref[1]
    # rank 0's (DataParallel's first replica's) update only, counted once
    assert int(bn.num_batches_tracked) == int(bn_ref.num_batches_tracked) == 1
    assert torch.equal(bn.running_mean, bn_ref.running_mean)
    assert torch.equal(bn.running_var, bn_ref.running_var)
    assert torch.allclose(out[4:], ref(x[4:]), atol=1e-6)  # normalised on its own
    assert bn.momentum == 0.1  # restored
    assert not torch.allclose(out, net(x), atol=1e-3)  # one BN batch of 8 is another output


# ------------------------------------------------------------------------------ helpers
def _torchrun(n: int, args: list[str]) -> list[str]:
    return [*TORCHRUN, str(n), "-m", "ranksrgan", *args]


def _run(cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=ENV)


def _ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stderr[-3000:]


def _noise_params(state: dict[str, torch.Tensor]) -> set[str]:
    """Conv biases feeding a BatchNorm (``convX.bias`` beside ``bnX``) and the running means
    that absorb them: rounding noise amplified by Adam (the module docstring)."""
    out = set()
    for k in state:
        if k.endswith(".bias") and "conv" in k.rsplit(".", 2)[-2]:
            bn = k.replace("conv", "bn").replace(".bias", ".running_mean")
            if bn in state:
                out |= {k, bn}
    return out


def _assert_close_states(a: dict, b: dict, iterations: int, noise: set[str] = frozenset()) -> None:
    """Every floating entry to 1e-5; ``noise`` and :func:`_noise_params` entries (zero gradient
    in exact arithmetic) to 2 lr per iteration, the most Adam can move them."""
    assert a.keys() == b.keys()
    noise = _noise_params(a) | set(noise)
    for k in a:
        if not a[k].is_floating_point() or k.endswith("running_var"):
            continue
        diff = float((a[k].double() - b[k].double()).abs().max())
        bound = 2 * LR * iterations if k in noise else 1e-5
        assert diff <= bound, f"{k}: {diff:.3g} > {bound:.3g}"


def _events(out: Path) -> tuple[list[Path], object]:
    """The event files of ``out/tensorboard`` and their accumulator (every event kept)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = sorted((out / "tensorboard").glob("events.out.tfevents.*"))
    acc = EventAccumulator(str(out / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return files, acc


def _assert_curve_logged(out: Path, log: pd.DataFrame, column: str, files: int = 1) -> object:
    """TensorBoard's ``train/<column>`` is the log's column, one event per iteration."""
    found, acc = _events(out)
    assert len(found) == files, found  # rank 0 only (and one more per resumed run)
    ev = acc.Scalars(f"train/{column}")
    assert [e.step for e in ev] == list(log["iteration"])
    assert [e.value for e in ev] == pytest.approx(list(log[column]), rel=1e-6)
    return acc


def _assert_same_curves(a: pd.DataFrame, b: pd.DataFrame, columns: list[str]) -> None:
    assert list(a["iteration"]) == list(b["iteration"])
    for c in columns:
        pd.testing.assert_series_equal(a[c], b[c], check_exact=False, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------------------ Ranker
@pytest.fixture(scope="module")
def index(tmp_path_factory) -> Path:
    return make_rank_index(tmp_path_factory.mktemp("rank"))


RANKER_ITERS = 24


def _ranker_args(index: Path, out: Path, *extra: str) -> list[str]:
    return [
        "ranker", "train", "--index", str(index), "--out", str(out),
        "--arch", "ranker_vgg8", "--arch-options", '{"nf": 4}', "--batch-size", "8",
        "--lr", str(LR), "--milestones", "100", "--iterations", str(RANKER_ITERS),
        "--workers", "0", "--device", "cpu", "--log-every", "1", "--checkpoint-every", "4",
        "--seed", "1", "--bn-replicas", "2", "--dist-timeout-s", "20", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def ranker_ref(index, tmp_path_factory) -> Path:
    """The 1-process, bn_replicas 2 Ranker run."""
    out = tmp_path_factory.mktemp("ranker1") / "r"
    _ok(_run([sys.executable, "-m", "ranksrgan", *_ranker_args(index, out)]))
    return out


def test_ranker_two_processes_equal_one_process_with_two_bn_replicas(index, ranker_ref, tmp_path):
    out = tmp_path / "r"
    proc = _run(_torchrun(2, _ranker_args(index, out)))
    _ok(proc)
    assert proc.stdout.count("validation SROCC") == 1  # rank 0 evaluates and prints
    ref_log, log = (pd.read_parquet(p / "train_log.parquet") for p in (ranker_ref, out))
    assert len(log) == RANKER_ITERS
    _assert_same_curves(ref_log, log, ["loss", "pair_acc", "lr"])
    _assert_close_states(
        torch.load(ranker_ref / "model.pth", weights_only=True),
        torch.load(out / "model.pth", weights_only=True),
        RANKER_ITERS,
    )
    acc = _assert_curve_logged(out, log, "loss")
    assert {"train/pair_acc", "train/lr", "eval/srocc", "eval/pair_accuracy"} <= set(
        acc.Tags()["scalars"]
    )
    meta, ref_meta = (json.loads((p / "model.json").read_text()) for p in (out, ranker_ref))
    assert (meta["world_size"], ref_meta["world_size"], meta["bn_replicas"]) == (2, 1, 2)
    assert torch.load(out / "checkpoint" / "last.pth", weights_only=True)["world_size"] == 2


def test_ranker_world_size_disagreeing_with_bn_replicas_is_one_line(index, tmp_path):
    proc = _run(_torchrun(2, _ranker_args(index, tmp_path / "r", "--bn-replicas", "1")))
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert lines and all("ranker r: bn_replicas: 1 BatchNorm replica(s) do not match 2" in ln
                         for ln in lines), proc.stderr[-3000:]
    assert {ln.split(":")[1].strip() for ln in lines} <= {"rank 0 of 2", "rank 1 of 2"}
    assert not (tmp_path / "r" / "model.pth").exists()


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(c) for c in (task / "children").read_text().split()]
    return kids


def _rank_of(pid: int) -> int | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for kv in env:
        if kv.startswith(b"RANK="):
            return int(kv[5:])
    return None


def _start_and_signal_rank_1(cmd: list[str], out: Path, sig: int) -> subprocess.Popen:
    """Start ``cmd`` (torchrun, 2 processes) and send ``sig`` to rank 1 once rank 0's
    checkpoint reached iteration 8; return the launcher (stderr read by a thread into
    ``proc.lines``, ``proc.signalled_at`` the monotonic time of the signal)."""
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=ENV, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    proc.lines = []
    threading.Thread(target=lambda: proc.lines.extend(proc.stderr), daemon=True).start()
    marker, deadline = out / "checkpoint" / "last.json", time.monotonic() + 90
    proc.signalled_at, proc.ranks = None, {}
    while proc.poll() is None and time.monotonic() < deadline:
        if marker.is_file() and json.loads(marker.read_text())["iteration"] >= 8:
            proc.ranks = {_rank_of(c): c for c in _children(proc.pid)}
            os.kill(proc.ranks[1], sig)
            proc.signalled_at = time.monotonic()
            break
        time.sleep(0.005)
    if proc.signalled_at is None:
        _kill_all(proc)
        pytest.fail("rank 1 was not signalled mid-run")
    return proc


def _kill_all(proc: subprocess.Popen) -> None:
    """SIGKILL the launcher and its ranks (torchrun starts each rank in a session of its own)."""
    for pid in [proc.pid, *proc.ranks.values()]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _our_lines(proc: subprocess.Popen) -> list[str]:
    return [ln.rstrip("\n") for ln in list(proc.lines) if ln.startswith("error: rank ")]


def test_killed_rank_ends_the_job_then_one_process_resumes_to_the_same_result(
    index, ranker_ref, tmp_path
):
    out = tmp_path / "r"
    proc = _start_and_signal_rank_1(_torchrun(2, _ranker_args(index, out)), out, signal.SIGKILL)
    try:
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            _kill_all(proc)
    ended_s = time.monotonic() - proc.signalled_at
    time.sleep(0.2)  # the reader thread's last lines
    err = "".join(proc.lines)
    assert proc.returncode != 0 and ended_s < 30, (proc.returncode, ended_s)
    ours = _our_lines(proc)
    assert len(ours) == 1, err[-3000:]  # the surviving rank: one line naming itself
    assert ours[0].startswith("error: rank 0 of 2: ")
    assert "lost the other processes during training" in ours[0] or "SIGTERM" in ours[0]
    assert "rank      : 1 (local_rank: 1)" in err  # torchrun's report names the killed rank
    assert not (out / "model.pth").exists()

    # resume the 2-process checkpoint on 1 process: the uninterrupted run's result
    again = _run([sys.executable, "-m", "ranksrgan", *_ranker_args(index, out)])
    _ok(again)
    assert "(checkpoint of 2 process(es), now 1)" in again.stderr
    ref_log, log = (pd.read_parquet(p / "train_log.parquet") for p in (ranker_ref, out))
    # the killed run's events after its checkpoint are purged: one curve, no fork
    _assert_curve_logged(out, log, "loss", files=2)
    _assert_same_curves(ref_log, log, ["loss", "pair_acc", "lr"])
    _assert_close_states(
        torch.load(ranker_ref / "model.pth", weights_only=True),
        torch.load(out / "model.pth", weights_only=True),
        RANKER_ITERS,
    )


def test_a_rank_that_stops_answering_ends_the_others_within_the_timeout(index, tmp_path):
    out = tmp_path / "r"
    cmd = _torchrun(2, _ranker_args(index, out, "--dist-timeout-s", "3"))
    proc = _start_and_signal_rank_1(cmd, out, signal.SIGSTOP)  # hung, not dead
    try:
        deadline = time.monotonic() + 25
        while not _our_lines(proc) and time.monotonic() < deadline:
            time.sleep(0.05)
        waited = time.monotonic() - proc.signalled_at
        ours = _our_lines(proc)
    finally:  # torchrun would SIGKILL the stopped rank itself, 30 s later
        _kill_all(proc)
    assert len(ours) == 1 and ours[0].startswith("error: rank 0 of 2: lost the other processes")
    assert "did not answer within 3 s" in ours[0] and 3 <= waited < 15, (waited, ours)


# ------------------------------------------------------------------------------ GAN
GAN_ITERS = 4
TINY = {
    "description": "tiny RankSRGAN-like preset: RaGAN (batch means), rank-content (a sum)",
    "labels": ["test run"],
    "generator": {"arch": "srresnet", "options": {"nf": 8, "nb": 1}},
    "discriminator": {"arch": "discriminator_vgg128", "options": {"nf": 4}},
    "init": None,
    "iterations": GAN_ITERS,
    "seed": 3,
    "bn_replicas": 2,
    "data": {
        "train": ["tr"], "val": "va", "val_images": 1, "hr_patch": 128, "batch_size": 8,
        "flip": True, "rotate": True, "lr_source": "manifest",
    },
    "optim": {"lr_g": LR, "lr_d": LR, "betas": [0.9, 0.99]},
    "scheduler": {"milestones": [3], "gamma": 0.5},
    "losses": {
        "pixel": {"weight": 1.0e-2, "criterion": "l1"},
        "mse": {"weight": 1.0},
        "gan": {"weight": 5.0e-3, "kind": "ragan"},
        "rank": {
            "weight": 3.0e-2, "bias": 0.0, "bn_mode": "batch",
            "ranker": {"source": "random", "arch": "ranker_vgg8", "options": {"nf": 4}, "seed": 1},
        },
    },
    "checkpoint_every": 2,
    "val_every": 2,
    "log_every": 1,
}  # fmt: skip


@pytest.fixture(scope="module")
def gan_config(tmp_path_factory) -> Path:
    from tests.support.train_inputs import write_config

    root = tmp_path_factory.mktemp("gan")
    make_dataset(root, "tr", photos=("astronaut", "coffee"), max_side=256)
    make_dataset(root, "va", photos=("chelsea",), max_side=128)
    return write_config(root, {"tiny_dist": TINY})


def _gan_args(cfg: Path, out: Path) -> list[str]:
    return ["train", "--config", str(cfg), "--preset", "tiny_dist", "--out", str(out),
            "--device", "cpu", "--dist-timeout-s", "30"]  # fmt: skip


def test_gan_two_processes_equal_one_process_with_two_bn_replicas(gan_config, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    _ok(_run([sys.executable, "-m", "ranksrgan", *_gan_args(gan_config, one)]))
    _ok(_run(_torchrun(2, _gan_args(gan_config, two))))
    logs = [pd.read_parquet(p / "train_log.parquet") for p in (one, two)]
    cols = ["l_pix", "l_mse", "l_gan", "l_rank", "l_g_total", "l_d"]
    # the rank-content term is a sum over the global 8 samples (sigmoids near 0.5), not 4
    assert len(logs[1]) == GAN_ITERS and (logs[1]["l_rank"] / 3e-2).between(3.0, 5.0).all()
    _assert_same_curves(*logs, [*cols, "lr_g"])
    for name in ("G.pth",):
        _assert_close_states(*(torch.load(p / name, weights_only=True) for p in (one, two)),
                             GAN_ITERS)  # fmt: skip
    d = [torch.load(p / "checkpoint" / "last.pth", weights_only=True)["D"] for p in (one, two)]
    # D's BatchNorm running statistics are never read (always in train mode): parameters only.
    # RaGAN's D(real) - mean D(fake) ignores a shift of D's output, so the last bias has zero
    # gradient and linear1's nearly (dL/dD sums to 0 over the batch): noise, as above
    params = {k for k in d[0] if not any(s in k for s in ("running", "num_batches"))}
    _assert_close_states(*({k: s[k] for k in params} for s in d), GAN_ITERS,
                         noise={"linear1.bias", "linear2.bias"})  # fmt: skip
    # so D's logits are compared as their RaGAN difference
    gap = [lg["d_real"] - lg["d_fake"] for lg in logs]
    pd.testing.assert_series_equal(*gap, rtol=1e-5)
    val = [pd.read_parquet(p / "val.parquet") for p in (one, two)]
    assert list(val[1]["iteration"]) == [2, 4]  # rank 0 validated, once per interval
    pd.testing.assert_series_equal(val[0]["psnr"], val[1]["psnr"], rtol=1e-4)
    meta = json.loads((two / "G.json").read_text())
    assert meta["world_size"] == 2 and meta["options"]["bn_replicas"] == 2
    acc = _assert_curve_logged(two, logs[1], "l_g_total")
    psnr = acc.Scalars("val/psnr")
    assert [e.step for e in psnr] == [2, 4]
    assert [e.value for e in psnr] == pytest.approx(list(val[1]["psnr"]), rel=1e-6)
    crop = acc.Images("val/chelsea")
    assert [e.step for e in crop] == [2, 4] and (crop[0].width, crop[0].height) == (128, 128)
