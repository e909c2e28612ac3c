"""The training loop both trainers run: one rule for each piece they used to copy.

The GAN trainer (:mod:`ranksrgan.train.engine`) and the Ranker trainer
(:mod:`ranksrgan.ranker.engine`) each keep their own networks, step and metadata; everything
around the step lives here, once:

- :class:`Placement`: device, precision and memory format. bf16 autocast on CUDA only (a CPU
  run is fp32 whatever the config says, unless ``cpu_bf16`` asks otherwise, for benchmarks),
  on the device's own type; ``channels_last`` on CUDA only; uint8 batches moved to the device
  before conversion (4x less host-device traffic).
- :func:`adam_multistep`: Adam (fused on CUDA) + MultiStepLR stepped once per iteration.
- :class:`StepLog`: per-step values stay on the device (no host sync inside a step) until a
  log interval ends; then one transfer, the non-finite check (before anything is logged or
  checkpointed, so a diverged state is never saved), and one mean row.
- :class:`LoopTrainer`: the output-folder lock, the resume decision (same inputs or start
  over, :mod:`ranksrgan.fit.resume`), the iteration loop with its log line (iterations/s
  and time left), progress bar and checkpoint interval, and the checkpoint's common part
  (iteration, run key, RNG state, log rows, world size).
- Several processes (:mod:`ranksrgan.fit.dist`): the loop holds the run's
  :class:`~ranksrgan.fit.dist.ProcessGroup` (``self.dist``); rank 0 takes the lock,
  writes checkpoints and tables and logs; every rank resumes from the same checkpoint (the
  iteration is checked to agree); logged values are averaged over the ranks at each flush.
- Live logs: TensorBoard event files in ``OUT/tensorboard/`` (rank 0), beside
  ``train_log.parquet``: each log row's values and learning rates (``train/...``), and what a
  trainer adds (validation PSNR/NIQE and crops, the Ranker's evaluation). A resumed run
  purges the events after its checkpoint's iteration, so the curves do not fork.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ranksrgan.fit.checkpoint import load_checkpoint, save_checkpoint
from ranksrgan.fit.dist import SINGLE, ProcessGroup
from ranksrgan.fit.finite import check_finite
from ranksrgan.fit.resume import KEY_FIELD, resume_decision
from ranksrgan.fit.rng import rng_state, set_rng_state
from ranksrgan.io.folderlock import LOCK_NAME, folder_lock
from ranksrgan.io.precision import autocast

log = logging.getLogger(__name__)
TENSORBOARD_DIR = "tensorboard"


@dataclass(frozen=True)
class Placement:
    """Where and how a trainer's tensors run: device, effective precision, memory format."""

    device: torch.device
    precision: str = "fp32"  # the effective one: "bf16" only where it is honoured
    memory_format: torch.memory_format = torch.contiguous_format

    @classmethod
    def for_training(
        cls,
        device: torch.device,
        precision: str,
        channels_last: bool,
        cpu_bf16: bool = False,
    ) -> Placement:
        """The trainers' rule: bf16 and channels_last on CUDA (bf16 on the CPU only with
        ``cpu_bf16``); fp32 and the contiguous format otherwise."""
        cuda = device.type == "cuda"
        amp = (cuda or cpu_bf16) and precision == "bf16"
        fmt = torch.channels_last if (cuda and channels_last) else torch.contiguous_format
        return cls(device, "bf16" if amp else "fp32", fmt)

    @property
    def amp(self) -> bool:
        """Whether steps run under bf16 autocast."""
        return self.precision != "fp32"

    def autocast(self) -> contextlib.AbstractContextManager:
        """The step's autocast context (a no-op for fp32)."""
        return autocast(self.device, self.precision)

    def module(self, net: nn.Module) -> nn.Module:
        """``net`` moved to the device in the memory format (in place; returned for chaining)."""
        return net.to(self.device, memory_format=self.memory_format)  # type: ignore[call-overload]

    def images(self, x_u8: torch.Tensor) -> torch.Tensor:
        """A uint8 image batch as float in [0, 1] on the device (moved first, converted there)."""
        x = x_u8.to(self.device, non_blocking=True).float().div_(255.0)
        return x.contiguous(memory_format=self.memory_format)


def adam_multistep(
    params: Iterable[nn.Parameter],
    device: torch.device,
    lr: float,
    betas: Sequence[float],
    weight_decay: float,
    milestones: Sequence[int],
    gamma: float,
) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.MultiStepLR]:
    """Adam (fused on CUDA) and its MultiStepLR (milestones in iterations)."""
    fused = {"fused": True} if device.type == "cuda" else {}
    opt = torch.optim.Adam(
        params, lr=lr, betas=(float(betas[0]), float(betas[1])), weight_decay=weight_decay,
        **fused,
    )
    return opt, torch.optim.lr_scheduler.MultiStepLR(opt, list(milestones), gamma)


class StepLog:
    """Per-step values on the device; one host transfer, check and mean row per interval.

    Rows: ``iteration`` (the last of the interval), ``n`` (its steps), one mean per column,
    then the ``extra`` values of :meth:`flush` (learning rates).

    ``derive``: the steps' raw values (steps x raw entries, averaged over the ranks) to the
    steps' column values (steps x columns), for a column that is a ratio of batch counts
    (the Ranker's pair accuracy: agreeing pairs over ordered pairs of the global batch).
    """

    def __init__(
        self,
        columns: Sequence[str],
        what: str,
        derive: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        self.columns, self.what, self.derive = list(columns), what, derive
        self.rows: list[dict[str, Any]] = []
        self._pending: list[torch.Tensor] = []

    def add(self, values: torch.Tensor) -> None:
        """One step's values (a 1-D device tensor, one entry per column); no sync."""
        self._pending.append(values)

    def flush(
        self, iteration: int, extra: dict[str, Any], dist: ProcessGroup = SINGLE
    ) -> dict[str, Any] | None:
        """Bring the pending steps (ending at ``iteration``) to the host, check, log a row.

        On several processes the steps' values are first averaged over the ranks (every
        rank flushes at the same iterations): each rank's values are means over its equal
        slice of the global batch, so their mean is the global batch's value.
        """
        if not self._pending:
            return None
        vals = dist.mean_(torch.stack(self._pending)).cpu().double()
        if self.derive is not None:
            vals = self.derive(vals)
        # before anything is logged or checkpointed: a diverged state is never saved
        check_finite(vals, self.columns, iteration - len(self._pending) + 1, self.what)
        row = {"iteration": iteration, "n": len(self._pending)}
        row.update(zip(self.columns, vals.mean(0).tolist(), strict=True))
        row.update(extra)
        self.rows.append(row)
        self._pending = []
        return row


class LoopTrainer:
    """Lock, resume, loop and checkpoint around a subclass's step.

    A subclass sets ``what`` ("preset NAME"), ``out``, ``ckpt_dir``, ``run_key``
    (:func:`ranksrgan.fit.resume.run_key`), ``steplog``, ``iteration`` and ``dist`` (the
    run's :class:`~ranksrgan.fit.dist.ProcessGroup`, a group of one by default), and
    implements :meth:`train_step`, :meth:`log_extra`, :meth:`state`, :meth:`restore` and
    :meth:`write_tables`; :meth:`after_iteration` is an optional hook (validation).
    """

    what: str
    lock_what: str = "training"
    out: Path
    ckpt_dir: Path
    run_key: dict[str, Any]
    steplog: StepLog
    iteration: int = 0
    dist: ProcessGroup = SINGLE
    tensorboard: bool = True  # event files in OUT/tensorboard/ (rank 0)
    _tb: Any = None

    # ------------------------------------------------------------------------ to implement
    def train_step(self, batch: Sequence[torch.Tensor]) -> torch.Tensor:
        """One optimiser step on a loader batch; its logged values (device tensor, no sync)."""
        raise NotImplementedError

    def log_extra(self) -> dict[str, Any]:
        """Values appended to each log row (e.g. ``{"lr": ...}``)."""
        return {}

    def state(self) -> dict[str, Any]:
        """The subclass's part of a checkpoint (networks, optimisers, schedulers, ...)."""
        raise NotImplementedError

    def restore(self, ck: dict[str, Any]) -> None:
        """Inverse of :meth:`state`."""
        raise NotImplementedError

    def write_tables(self) -> None:
        """Write the run's tables (train_log.parquet, ...) at each checkpoint."""

    def after_iteration(self) -> None:
        """Called after each iteration's log flush, before its checkpoint."""

    # ------------------------------------------------------------------------ machinery
    @property
    def log_rows(self) -> list[dict[str, Any]]:
        """The log rows so far (one per flushed interval)."""
        return self.steplog.rows

    def locked(self) -> contextlib.AbstractContextManager[Any]:
        """Hold the output folder's lock (a second run into it stops at once, one line);
        rank 0 holds it for the whole run's processes."""
        if not self.dist.is_main:
            return contextlib.nullcontext()
        return folder_lock(self.out, self.lock_what, self.ckpt_dir / LOCK_NAME)

    def resume(self) -> bool:
        """Restore ``checkpoint/last.pth`` if it was made from the same inputs (logged);
        otherwise say in one line why the run starts over. Returns whether it resumed.

        Every rank reads the same file once rank 0 holds the lock, and the ranks must agree
        on the iteration they resume at. The world size is not part of the run key: a
        checkpoint of N processes resumes on M (the batches and the BatchNorm replicas are
        the same, :mod:`ranksrgan.fit.dist`).
        """
        self.dist.phase = "resume"
        self.dist.barrier()
        ck = load_checkpoint(self.ckpt_dir)
        decision = resume_decision(ck, self.run_key, self.ckpt_dir / "last.pth")
        if decision.resume and ck is not None:
            set_rng_state(ck["rng"])
            self.iteration = int(ck["iteration"])
            self.steplog.rows = [dict(r) for r in ck["log_rows"]]
            self.restore(ck)
            was = int(ck.get("world_size", 1))
            log.info(
                "%s: resumed at iteration %d%s",
                self.what,
                self.iteration,
                f" (checkpoint of {was} process(es), now {self.dist.world_size})"
                if was != self.dist.world_size
                else "",
            )
        elif ck is not None:
            log.warning("%s: %s", self.what, decision.reason)
        self.dist.agree(self.iteration, "the checkpoint's iteration")
        return decision.resume

    def flush(self) -> None:
        """Move pending step values to the host (averaged over the ranks), check them and log
        their row (TensorBoard ``train/<column>`` too)."""
        row = self.steplog.flush(self.iteration, self.log_extra(), self.dist)
        if row is not None:
            self.tb_scalars(
                "train", {k: v for k, v in row.items() if k not in ("iteration", "n")}
            )

    # ------------------------------------------------------------------------ TensorBoard
    def tb_writer(self) -> Any:
        """Rank 0's TensorBoard writer (``OUT/tensorboard/``), None elsewhere or when off.

        Opened at the first event, after the resume decision: events later than the resumed
        iteration (a killed run's) are purged.
        """
        if not self.tensorboard or not self.dist.is_main:
            return None
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:  # the package is a dependency; a broken install logs
                log.warning("%s: no TensorBoard event files (%s)", self.what, exc)
                self.tensorboard = False
                return None
            self._tb = SummaryWriter(
                str(self.out / TENSORBOARD_DIR), purge_step=self.iteration + 1
            )
        return self._tb

    def tb_scalars(self, prefix: str, values: dict[str, Any], step: int | None = None) -> None:
        """``prefix/name`` scalars at ``step`` (default the current iteration); non-numbers
        and non-finite values are skipped."""
        w = self.tb_writer()
        if w is None:
            return
        step = self.iteration if step is None else step
        for k, v in values.items():
            if isinstance(v, int | float) and not isinstance(v, bool) and v == v:
                w.add_scalar(f"{prefix}/{k}", float(v), step)

    def tb_images(self, prefix: str, images: dict[str, torch.Tensor], step: int | None = None):
        """``prefix/name`` images (3 x H x W uint8 or float in [0, 1]) at ``step``."""
        w = self.tb_writer()
        if w is None:
            return
        step = self.iteration if step is None else step
        for k, img in images.items():
            img = img.detach().cpu()
            w.add_image(f"{prefix}/{k}", img.float() / 255 if img.dtype == torch.uint8 else img,
                        step)

    def close_tensorboard(self) -> None:
        """Flush and close the event file (the end of a run)."""
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def checkpoint(self) -> None:
        """Flush (every rank), then on rank 0: save ``checkpoint/last.pth`` atomically and
        write the tables."""
        self.flush()
        if not self.dist.is_main:
            return
        save_checkpoint(
            self.ckpt_dir,
            {
                **self.state(),
                "iteration": self.iteration,
                KEY_FIELD: self.run_key,
                "rng": rng_state(),
                "log_rows": self.steplog.rows,
                "world_size": self.dist.world_size,
            },
        )
        self.write_tables()
        if self._tb is not None:
            self._tb.flush()

    def iterate(
        self, loader: Iterable, total: int, log_every: int, checkpoint_every: int
    ) -> None:
        """Run the loader's batches (iterations ``self.iteration + 1 .. total``).

        Every ``log_every`` iterations and at the last one: flush and one progress line (or a
        progress bar on a terminal); every ``checkpoint_every`` iterations before the last:
        a checkpoint (the caller checkpoints the end).
        """
        t0, start = time.perf_counter(), self.iteration
        self.dist.phase = "training"
        with self._progress(total) as bar:
            for batch in loader:
                self.steplog.add(self.train_step(batch))
                self.iteration += 1
                if bar is not None:
                    bar.update(1)
                if self.iteration % log_every == 0 or self.iteration == total:
                    self.flush()
                    self._report(bar, total, (time.perf_counter() - t0), start)
                self.after_iteration()
                if self.iteration % checkpoint_every == 0 and self.iteration < total:
                    self.checkpoint()
        self.flush()

    @contextlib.contextmanager
    def _progress(self, total: int) -> Iterator[Any]:
        if not sys.stderr.isatty() or not self.dist.is_main:
            yield None
            return
        from tqdm import tqdm

        bar = tqdm(total=total, initial=self.iteration, desc=self.what, unit="it")
        try:
            yield bar
        finally:
            bar.close()

    def _report(self, bar: Any, total: int, elapsed: float, start: int) -> None:
        row = self.steplog.rows[-1] if self.steplog.rows else {}
        msg = " ".join(f"{k}={row[k]:.4g}" for k in self.steplog.columns if k in row)
        if bar is not None:
            bar.set_postfix_str(msg)
            return
        log.info("%s it %d/%d %s (%s)", self.what, self.iteration, total, msg,
                 progress_text(elapsed, self.iteration - start, total - self.iteration))


def progress_text(elapsed_s: float, done: int, left: int) -> str:
    """``12.3 it/s, 81.2 ms/it, 1:02:03 left`` for ``done`` iterations in ``elapsed_s``."""
    if done <= 0 or elapsed_s <= 0:
        return "rate n/a"
    per = elapsed_s / done
    secs = int(round(per * max(0, left)))
    h, rem = divmod(secs, 3600)
    return f"{1 / per:.3g} it/s, {1000 * per:.1f} ms/it, {h}:{rem // 60:02d}:{rem % 60:02d} left"
