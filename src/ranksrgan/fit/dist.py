"""The toolkit's one owner of the process group: training on several processes (devices).

Both trainers run under ``torchrun --nproc-per-node N`` (or one SLURM task per device) through
:class:`ranksrgan.fit.loop.LoopTrainer`, which holds a :class:`ProcessGroup`; neither
trainer sets up, uses or tears down ``torch.distributed`` itself. :func:`process_group`
reads the launcher's environment (torchrun: ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``; srun:
``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID`` with ``MASTER_ADDR``/``MASTER_PORT``),
picks the device (``cuda:LOCAL_RANK`` with NCCL, the CPU with gloo), and tears the group down.
A single process (no launcher, or one process) gets a group of one where every collective is
a no-op, so the 1-process code path is the N-process one.

Semantics (results do not depend on the number of processes):

- The config's batch is the global batch. Every iteration's batch is keyed by
  ``(iteration, slot)`` (:mod:`ranksrgan.fit.data`); rank ``r`` of ``N`` takes slots
  ``r*B/N .. (r+1)*B/N - 1``, so the N slices together are the 1-process batch.
- BatchNorm is per rank (no SyncBN): rank ``r`` normalises its ``B/N`` samples, as each GPU of
  the authors' N-GPU ``DataParallel`` did, which a 1-process run emulates with
  ``bn_replicas: N`` (:func:`ranksrgan.archs.common.replica_forward`). So the rule
  (:meth:`ProcessGroup.local_replicas`): where a trained network normalises with batch
  statistics, ``bn_replicas`` must be a multiple of the world size (each rank then runs
  ``bn_replicas / N`` replicas on its slice); anything else is a one-line error, never a
  silent change of the BatchNorm batch. A run without batch statistics (a pixel-loss
  generator) runs on any number of processes.
- Gradients are all-reduced and averaged (:meth:`ProcessGroup.average_gradients`): with mean
  losses over equal slices, the average of the N slice gradients is the 1-process gradient of
  the global batch, up to float summation order. A loss over the whole batch (RaGAN's
  ``mean(D(real))``) sees the whole batch: D's outputs are gathered
  (:meth:`ProcessGroup.gather_batch`), as ``DataParallel`` gathers them on its first GPU.
- This is DistributedDataParallel's arithmetic done by the toolkit rather than torch's
  ``DistributedDataParallel`` wrapper: the GAN step freezes D by toggling ``requires_grad``
  and runs D up to three times per step, which the wrapper's reducer does not support; one
  flat all-reduce per optimiser step (after backward, before ``step()``) is deterministic
  and the same code for both trainers.
- Rank 0 writes every file (checkpoints, tables, weights, TensorBoard), validates and
  evaluates; every rank resumes from the same checkpoint (checked); logged values are
  averaged over the ranks before the finite check, so a rank whose step diverged stops every
  rank with the same line.

Failure: a rank that raises ends with one line naming it (``rank 1 of 2: ...``); a rank that
is killed leaves the others in a collective that fails (gloo: at once, the peer's socket
closed; NCCL: within the group's timeout) or that torchrun ends (SIGTERM, then SIGKILL): each
surviving rank prints one line naming itself and the lost peers, and torchrun's summary names
the failed rank. The timeout (``--dist-timeout-s``, default :data:`DEFAULT_TIMEOUT_S`) also
bounds how long the other ranks wait for rank 0's validation.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import signal
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import nn

from ranksrgan.errors import RankSRGANError

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_TIMEOUT_S = 1800.0
"""Seconds a collective may wait (a lost peer, rank 0's validation) before the run stops."""


@dataclass(frozen=True)
class Launch:
    """What the launcher's environment says about this process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    source: str = "single"  # "torchrun" | "slurm" | "single"


def _int_env(env: Mapping[str, str], name: str) -> int:
    try:
        value = int(env[name])
    except ValueError:
        raise RankSRGANError(
            f"environment variable {name}={env[name]!r} is not an integer"
        ) from None
    if value < 0:
        raise RankSRGANError(f"environment variable {name}={value} is negative")
    return value


def launch_from_env(env: Mapping[str, str] | None = None) -> Launch:
    """This process's rank, world size and local rank from torchrun's or SLURM's variables.

    torchrun (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) wins over SLURM (``SLURM_PROCID``,
    ``SLURM_NTASKS``, ``SLURM_LOCALID``: one task per device, ``srun`` without torchrun; the
    batch script then sets ``MASTER_ADDR`` and ``MASTER_PORT``). Neither: a single process.
    """
    env = os.environ if env is None else env
    if "RANK" in env and "WORLD_SIZE" in env:
        rank, world = _int_env(env, "RANK"), _int_env(env, "WORLD_SIZE")
        local = _int_env(env, "LOCAL_RANK") if "LOCAL_RANK" in env else rank
        source = "torchrun"
    elif "SLURM_PROCID" in env and "SLURM_NTASKS" in env and _int_env(env, "SLURM_NTASKS") > 1:
        rank, world = _int_env(env, "SLURM_PROCID"), _int_env(env, "SLURM_NTASKS")
        local = _int_env(env, "SLURM_LOCALID") if "SLURM_LOCALID" in env else 0
        source = "slurm"
        missing = [v for v in ("MASTER_ADDR", "MASTER_PORT") if not env.get(v)]
        if missing:
            raise RankSRGANError(
                f"SLURM task {rank} of {world}: {' and '.join(missing)} not set (srun without "
                "torchrun needs them: export MASTER_ADDR=<first node> MASTER_PORT=<free port>, "
                "or launch with `srun torchrun ...`)"
            )
    else:
        return Launch()
    if world < 1 or rank >= world:
        raise RankSRGANError(f"{source}: rank {rank} is not below the world size {world}")
    return Launch(rank, world, local, source)


def has_batchnorm(net: nn.Module) -> bool:
    """Whether ``net`` holds a BatchNorm layer (its train-mode output depends on the batch)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


def replica_forward_first_stats(net: nn.Module, x: torch.Tensor, replicas: int) -> torch.Tensor:
    """``net(x)`` on ``replicas`` chunks of ``x``, each BatchNorm-normalised on its own, with
    the running statistics of the first chunk only (DataParallel's, and rank 0's under
    several processes: rank 0's buffers are the ones written to a checkpoint or export).

    For a network whose running statistics are used later (the Ranker, evaluated in eval
    mode); :func:`ranksrgan.archs.common.replica_forward` updates them chunk after chunk.
    """
    if replicas <= 1 or x.shape[0] <= 1:
        return net(x)
    chunks = x.chunk(replicas)
    out = [net(chunks[0])]
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, m.num_batches_tracked) for m in bns]
    try:
        for m in bns:
            m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch: no update
            m.num_batches_tracked = None
        out += [net(c) for c in chunks[1:]]
    finally:
        for m, (mom, nbt) in zip(bns, saved, strict=True):
            m.momentum, m.num_batches_tracked = mom, nbt
    return torch.cat(out)


class _GatherBatch(torch.autograd.Function):
    """All ranks' slices concatenated in rank order; backward: this rank's part of the sum of
    every rank's gradient (each rank computed its loss on the whole gathered batch)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, group: ProcessGroup) -> torch.Tensor:  # noqa: D102
        import torch.distributed as dist

        x = x.contiguous()
        parts = [torch.empty_like(x) for _ in range(group.world_size)]
        with group._comm():
            dist.all_gather(parts, x)
        ctx.group, ctx.n = group, x.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        import torch.distributed as dist

        grad = grad.contiguous().clone()
        with ctx.group._comm():
            dist.all_reduce(grad)
        r = ctx.group.rank
        return grad[r * ctx.n : (r + 1) * ctx.n], None


class ProcessGroup:
    """This process's place in the run (rank, world size, device) and the collectives the
    trainers use. A group of one (the default, :data:`SINGLE`) makes every collective a no-op.
    """

    def __init__(
        self,
        rank: int = 0,
        world_size: int = 1,
        local_rank: int = 0,
        device: torch.device | None = None,
        backend: str | None = None,
    ):
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self.device = device if device is not None else torch.device("cpu")
        self.backend = backend
        self.phase = "setup"  # what the run was doing, for the one-line failure message
        # benchmarks: seconds spent in the step's collectives (synchronised around each one
        # on CUDA, so that the time is the communication's, not its launch's)
        self.time_comm = False
        self.comm_s = 0.0

    @contextlib.contextmanager
    def _comm(self) -> Iterator[None]:
        if not self.time_comm:
            yield
            return
        import time

        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.synchronize(self.device)
        t0 = time.perf_counter()
        yield
        if cuda:
            torch.cuda.synchronize(self.device)
        self.comm_s += time.perf_counter() - t0

    # ------------------------------------------------------------------------ who am I
    @property
    def active(self) -> bool:
        """Whether there are other processes (collectives do something)."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes files, logs, validates and evaluates."""
        return self.rank == 0

    def describe(self) -> str:
        """``rank R of N`` (the prefix of this rank's error lines)."""
        return f"rank {self.rank} of {self.world_size}"

    # ------------------------------------------------------------------------ data and BN
    def batch_slice(self, batch_size: int, key: str) -> range:
        """This rank's slots of a global batch of ``batch_size`` (equal slices, in order).

        ``key`` names the config key of the batch size for the error when it does not divide.
        """
        if batch_size % self.world_size:
            raise RankSRGANError(
                f"{key}: the global batch {batch_size} does not split over {self.world_size} "
                "processes (it must be a multiple of the number of processes/GPUs)"
            )
        n = batch_size // self.world_size
        return range(self.rank * n, (self.rank + 1) * n)

    def local_replicas(
        self, bn_replicas: int, batch_size: int, key: str, uses_batch_stats: bool
    ) -> int:
        """How many BatchNorm replicas this rank runs on its slice (``bn_replicas / N``).

        ``uses_batch_stats``: whether a trained network normalises with batch statistics (a D,
        a train-mode Ranker); if not, ``bn_replicas`` changes nothing and any world size goes.
        Otherwise ``bn_replicas`` must be a multiple of the world size and divide the batch,
        so that N processes normalise exactly the samples that ``bn_replicas`` replicas of a
        1-process run do (one-line error naming ``key``, the ``bn_replicas`` config key).
        """
        if bn_replicas < 1:
            raise RankSRGANError(f"{key}: must be >= 1, got {bn_replicas}")
        if not self.active:
            return bn_replicas
        if not uses_batch_stats:
            return max(1, bn_replicas // self.world_size)
        if bn_replicas % self.world_size:
            raise RankSRGANError(
                f"{key}: {bn_replicas} BatchNorm replica(s) do not match {self.world_size} "
                f"processes (each process normalises its own batch/{self.world_size} samples, "
                "no SyncBN): set it to a multiple of the number of processes/GPUs, or run "
                f"{bn_replicas if bn_replicas < self.world_size else 1} process(es)"
            )
        if batch_size % bn_replicas:
            raise RankSRGANError(
                f"{key}: {bn_replicas} replicas do not split the global batch {batch_size} "
                "into equal parts on several processes"
            )
        return bn_replicas // self.world_size

    # ------------------------------------------------------------------------ collectives
    def barrier(self) -> None:
        """Wait for every rank (bounded by the group's timeout)."""
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    def mean_(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` replaced in place by its mean over the ranks (returned)."""
        if self.active:
            import torch.distributed as dist

            with self._comm():
                dist.all_reduce(t)
            t.div_(self.world_size)
        return t

    def average_gradients(self, params: Iterable[nn.Parameter]) -> None:
        """Every parameter's ``.grad`` replaced by its mean over the ranks: one flat
        all-reduce per dtype (what DistributedDataParallel's buckets do after backward)."""
        if not self.active:
            return
        import torch.distributed as dist

        by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
        for p in params:
            if p.grad is not None:
                by_dtype.setdefault(p.grad.dtype, []).append(p.grad)
        for grads in by_dtype.values():
            flat = torch.cat([g.reshape(-1) for g in grads])
            with self._comm():
                dist.all_reduce(flat)
            flat.div_(self.world_size)
            offset = 0
            for g in grads:
                g.copy_(flat[offset : offset + g.numel()].view(g.shape))
                offset += g.numel()

    def broadcast_(self, module: nn.Module) -> None:
        """Rank 0's parameters and floating buffers copied into every rank's ``module``."""
        if not self.active:
            return
        import torch.distributed as dist

        tensors = [t for t in module.state_dict().values() if t.is_floating_point()]
        if not tensors:
            return
        flat = torch.cat([t.detach().reshape(-1).float() for t in tensors])
        dist.broadcast(flat, 0)
        offset = 0
        with torch.no_grad():
            for t in tensors:
                t.copy_(flat[offset : offset + t.numel()].view(t.shape))
                offset += t.numel()

    def gather_batch(self, x: torch.Tensor) -> torch.Tensor:
        """Every rank's slice of a batch concatenated in rank order (the global batch), with
        gradients flowing back to this rank's slice; ``x`` itself on a single process."""
        if not self.active:
            return x
        return _GatherBatch.apply(x, self)

    def agree(self, value: int, what: str) -> None:
        """One-line error unless every rank holds the same integer ``value``."""
        if not self.active:
            return
        import torch.distributed as dist

        t = torch.tensor([value, -value], dtype=torch.float64, device=self._coll_device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        lo, hi = -int(t[1]), int(t[0])
        if lo != hi:
            raise RankSRGANError(
                f"{self.describe()}: the ranks disagree on {what} ({lo} .. {hi}; this rank "
                f"{value}): every rank must see the same files (a shared results folder)"
            )

    def main_first(self, fn: Callable[[], T]) -> T:
        """``fn()`` on rank 0, then on the other ranks (a cache rank 0 builds, they reuse)."""
        if not self.active:
            return fn()
        if self.is_main:
            out = fn()
            self.barrier()
            return out
        self.barrier()
        return fn()

    def _coll_device(self) -> torch.device:
        return self.device if self.backend == "nccl" else torch.device("cpu")


SINGLE = ProcessGroup()
"""The group of one every trainer holds unless a launcher started several processes."""


def _device_for(launch: Launch, device_name: str | torch.device) -> torch.device:
    from ranksrgan.io.device import pick_device

    device = pick_device(device_name)
    if launch.world_size == 1 or device.type != "cuda":
        return device
    if device.index is not None and str(device_name) not in ("auto", "cuda"):
        raise RankSRGANError(
            f"device '{device_name}': with {launch.world_size} processes each rank takes "
            "cuda:LOCAL_RANK; use cuda or auto (and CUDA_VISIBLE_DEVICES to choose GPUs)"
        )
    if launch.local_rank >= torch.cuda.device_count():
        raise RankSRGANError(
            f"rank {launch.rank} of {launch.world_size}: local rank {launch.local_rank} has no "
            f"GPU (this host has {torch.cuda.device_count()}; ask for as many GPUs as processes)"
        )
    torch.cuda.set_device(launch.local_rank)
    return torch.device("cuda", launch.local_rank)


class _Stopped(RankSRGANError):
    """SIGTERM/SIGINT from the launcher (torchrun stops every rank when one fails)."""


def _is_dist_failure(exc: BaseException) -> bool:
    import torch.distributed as dist

    if isinstance(exc, dist.DistError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(
        s in text for s in ("Gloo", "gloo", "NCCL", "Connection closed by peer", "Timed out")
    )


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    line = lines[0] if lines else type(exc).__name__
    return line if len(line) <= 300 else line[:300] + "..."


@contextlib.contextmanager
def process_group(
    device_name: str | torch.device = "auto", timeout_s: float | None = None
) -> Iterator[ProcessGroup]:
    """The run's :class:`ProcessGroup`, from the launcher's environment, torn down at exit.

    One process: :data:`SINGLE`-like (device from ``device_name``), nothing initialised.
    Several: NCCL on CUDA (``cuda:LOCAL_RANK``), gloo on the CPU, collectives bounded by
    ``timeout_s`` (default :data:`DEFAULT_TIMEOUT_S`); ranks other than 0 log warnings only.
    Inside, a failure becomes one line naming the rank: a toolkit error is prefixed with
    ``rank R of N``; a failed collective (a peer exited, was killed or timed out) or the
    launcher's SIGTERM says so in one line.
    """
    launch = launch_from_env()
    device = _device_for(launch, device_name)
    if launch.world_size == 1:
        yield ProcessGroup(device=device)
        return
    import torch.distributed as dist

    timeout = DEFAULT_TIMEOUT_S if timeout_s is None else float(timeout_s)
    backend = "nccl" if device.type == "cuda" else "gloo"
    group = ProcessGroup(launch.rank, launch.world_size, launch.local_rank, device, backend)
    where = group.describe()
    if launch.source == "slurm":
        os.environ.setdefault("RANK", str(launch.rank))
        os.environ.setdefault("WORLD_SIZE", str(launch.world_size))
    if not group.is_main:  # one log: rank 0's (warnings and errors still come from every rank)
        logging.getLogger().setLevel(logging.WARNING)

    failing = False  # once one line is on its way, later signals must not cut it off

    def stop(signum: int, _frame) -> None:
        nonlocal failing
        if failing:
            return
        failing = True
        raise _Stopped(
            f"{where}: stopped by {signal.Signals(signum).name} during {group.phase} "
            "(the launcher stops every rank when one fails: its report names that rank)"
        )

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        dist.init_process_group(
            backend,
            timeout=datetime.timedelta(seconds=timeout),
            device_id=device if backend == "nccl" else None,
        )
    except Exception as exc:  # noqa: BLE001  (rendezvous failures: one line)
        failing = True
        raise RankSRGANError(
            f"{where}: could not join the process group ({backend}, "
            f"{type(exc).__name__}: {_first_line(exc)})"
        ) from None
    log.info(
        "%s processes (%s, %s), global batch split over them",
        launch.world_size,
        backend,
        launch.source,
    )
    try:
        yield group
    except _Stopped:
        raise
    except RankSRGANError as exc:
        failing = True
        raise RankSRGANError(f"{where}: {exc}") from None
    except Exception as exc:
        failing = True
        if not _is_dist_failure(exc):
            raise
        raise RankSRGANError(
            f"{where}: lost the other processes during {group.phase} "
            f"({type(exc).__name__}: {_first_line(exc)}); a peer rank failed, was killed "
            f"or did not answer within {timeout:g} s (the launcher's report names it)"
        ) from None
    # a failed run leaves the broken group and the handlers to the process's exit: tearing
    # a group down after a lost peer can block, and the launcher's SIGTERM must not cut off
    # the error line on its way out
    for s, h in old.items():
        signal.signal(s, h)
    dist.destroy_process_group()
