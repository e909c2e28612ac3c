"""The Ranker trainer: pairs from the rank index, one loss, Adam + MultiStepLR, resumable.

Step (the authors' ``Ranker_model``): the two patches of each pair go through the Ranker in
two forward passes (so BatchNorm normalises each side with its own batch statistics, as in
their code), the pair loss is computed on the two outputs and the labels, one Adam step, one
scheduler step. Speed on CUDA: bf16 autocast, ``channels_last``, fused Adam, uint8 batches
moved to the device before conversion, and no host synchronisation inside the step (values
stay on the device until a log interval ends).

Resume: ``checkpoint/last.pth`` holds the network, optimiser, scheduler, RNG state and log
rows; samples are keyed by iteration, so a SIGKILLed run rerun with the same command ends
with the same weights, bit for bit on CPU. A checkpoint made from another index or other
options is not resumed: the run starts over (logged). The loop around the step (lock,
resume, log/checkpoint intervals, the finite check) is the toolkit's
:class:`ranksrgan.fit.loop.LoopTrainer`, shared with the GAN trainer.

``bn_replicas`` (default 1): each side's forward runs on ``batch / bn_replicas`` chunks, each
BatchNorm-normalised on its own, with the first chunk's running statistics (DataParallel's
over that many GPUs; :func:`ranksrgan.fit.dist.replica_forward_first_stats`). Several
processes (``torchrun``, :mod:`ranksrgan.fit.dist`): the batch is the global batch, each
rank trains on its slice with ``bn_replicas / N`` replicas (``bn_replicas`` must be a multiple
of N: one-line error otherwise), gradients are averaged over the ranks, and the pair accuracy
is agreeing pairs over ordered pairs of the global batch; N processes then train what one
process with the same ``bn_replicas`` trains. Rank 0 evaluates and writes every file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ranksrgan import archs
from ranksrgan.errors import RankSRGANError
from ranksrgan.fit import export_weights, seed_all, write_metadata
from ranksrgan.fit.data import ImageCache, files_key, iteration_loader
from ranksrgan.fit.dist import (
    SINGLE,
    ProcessGroup,
    has_batchnorm,
    replica_forward_first_stats,
)
from ranksrgan.fit.export import json_bytes
from ranksrgan.fit.loop import LoopTrainer, Placement, StepLog, adam_multistep
from ranksrgan.fit.resume import run_key
from ranksrgan.io import write_bytes_atomic, write_parquet_atomic
from ranksrgan.io.contracts import stand_in_note
from ranksrgan.losses import RANKER_LOSSES, build_loss
from ranksrgan.ranker.data import PairDataset, check_patches
from ranksrgan.ranker.evaluate import ranker_outputs, summarise
from ranksrgan.ranker.index import RankIndex, read_rank_index
from ranksrgan.ranker.options import RankerOptions

log = logging.getLogger(__name__)
COLUMNS = ["loss", "pair_acc"]
MIN_PATCH = 32


def _pair_columns(raw: torch.Tensor) -> torch.Tensor:
    """Steps x [loss, agreeing pairs, ordered pairs] -> steps x [loss, pair accuracy]."""
    acc = torch.where(raw[:, 2] > 0, raw[:, 1] / raw[:, 2].clamp(min=1e-12), 0.0)
    return torch.stack([raw[:, 0], acc], dim=1)


@dataclass(frozen=True)
class RankerPaths:
    """Files one Ranker run reads and writes."""

    index: Path
    out_dir: Path
    cache_dir: Path | None = None


class RankerTrainer(LoopTrainer):
    """Builds the Ranker, its loss and data for one run, trains (or resumes) and evaluates."""

    lock_what = "Ranker training"

    def __init__(
        self,
        opts: RankerOptions,
        paths: RankerPaths,
        device: torch.device,
        dist: ProcessGroup = SINGLE,
        bn_replicas: int = 1,
    ):
        """``dist``: the run's processes (default a single one); ``bn_replicas``: BatchNorm
        replicas of the global batch (the module docstring)."""
        self.opts, self.paths, self.device, self.dist = opts, paths, device, dist
        self.bn_replicas = bn_replicas
        self.out = Path(paths.out_dir)
        self.ckpt_dir = self.out / "checkpoint"
        self.what = f"ranker {opts.name}"
        self.sched = opts.resolved()
        # the CLI's argparse types check these too; the engine is also called directly
        counts = {
            "batch_size": self.sched["batch_size"],
            "iterations": self.sched["iterations"],
            "checkpoint_every": opts.checkpoint_every,
            "log_every": opts.log_every,
        }
        for key, value in counts.items():
            if not isinstance(value, int) or value < 1:
                raise RankSRGANError(
                    f"ranker {opts.name}: {key} must be an integer >= 1, got {value!r}"
                )
        if opts.loss not in RANKER_LOSSES:
            raise RankSRGANError(
                f"ranker {opts.name}: unknown loss '{opts.loss}' "
                f"(known: {', '.join(sorted(RANKER_LOSSES))})"
            )
        self.index: RankIndex = read_rank_index(paths.index)
        # everything that shapes the checkpoint: the options and the rank index's bytes
        # (bn_replicas only where it is used: a 1-replica checkpoint keeps its key)
        settings: dict[str, Any] = {"options": opts.to_json()}
        if bn_replicas != 1:
            settings["bn_replicas"] = bn_replicas
        self.run_key = run_key(settings, {"index": paths.index})
        self.index_sha256 = self.run_key["index"]
        self.labels = list(
            dict.fromkeys(
                [*opts.labels, *(f"rank data: {s}" for s in self.index.stand_in_labels())]
            )
        )
        # the one encoding (ranksrgan.io.contracts) of eval.parquet, eval_summary.json and
        # model.json: the note, "" for a real Ranker
        self.stand_in = stand_in_note(self.labels)
        for lab in self.labels:
            log.warning("ranker %s: STAND-IN: %s", opts.name, lab)
        self.patch = opts.patch or int(self.index.rows["size"].min())
        if self.patch < MIN_PATCH:
            raise RankSRGANError(
                f"ranker {opts.name}: patch {self.patch} is smaller than {MIN_PATCH} "
                "(the Rankers halve the size five times)"
            )
        seed_all(opts.seed)
        self.place = Placement.for_training(device, opts.precision, opts.channels_last)
        self.net = archs.build(opts.arch, **opts.arch_options)
        self.place.module(self.net).train()
        self.slots = dist.batch_slice(self.sched["batch_size"], f"ranker {opts.name}: batch_size")
        self.replicas = dist.local_replicas(
            bn_replicas,
            self.sched["batch_size"],
            f"ranker {opts.name}: bn_replicas",
            has_batchnorm(self.net),
        )
        dist.broadcast_(self.net)
        loss_opts = {"margin": opts.margin, "clamp": opts.clamp} if opts.loss == "margin" else {}
        self.loss_fn = build_loss(RANKER_LOSSES[opts.loss], **loss_opts)
        s = self.sched
        self.opt, self.scheduler = adam_multistep(
            self.net.parameters(),
            device,
            s["lr"],
            s["betas"],
            s["weight_decay"],
            s["milestones"],
            s["gamma"],
        )
        self.iteration = 0
        self.steplog = StepLog(COLUMNS, self.what, derive=_pair_columns)

    # ----------------------------------------------------------------------------- data
    def _cache(self) -> ImageCache:
        files = self.index.files
        root = self.paths.cache_dir or (self.out / "cache")
        folder = Path(root) / f"ranker-{files_key(files)}"
        # rank 0 decodes, the other ranks reuse its cache
        cache = self.dist.main_first(lambda: ImageCache.build(files, folder))
        check_patches(self.index, cache)
        return cache

    # ----------------------------------------------------------------------------- step
    def step(
        self, a_u8: torch.Tensor, b_u8: torch.Tensor, la: torch.Tensor, lb: torch.Tensor
    ) -> torch.Tensor:
        """One optimiser step on a batch of pairs (this rank's slice); returns ``[loss,
        agreeing pairs, ordered pairs]`` (no sync; the log's pair accuracy is their ratio)."""
        a, b = self.place.images(a_u8), self.place.images(b_u8)
        la = la.to(self.device, non_blocking=True).float()
        lb = lb.to(self.device, non_blocking=True).float()
        with self.place.autocast():
            out_a = replica_forward_first_stats(self.net, a, self.replicas).float().reshape(-1)
            out_b = replica_forward_first_stats(self.net, b, self.replicas).float().reshape(-1)
        loss = self.loss_fn(out_a, out_b, la, lb)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.dist.average_gradients(self.net.parameters())
        self.opt.step()
        self.scheduler.step()
        with torch.no_grad():
            differ = la != lb
            agree = ((out_a - out_b) * (la - lb) > 0) & differ
        return torch.stack([loss.detach().float(), agree.sum().float(), differ.sum().float()])

    def train_step(self, batch) -> torch.Tensor:
        """:meth:`step` on a loader batch ``(a, b, label_a, label_b)``."""
        return self.step(*batch)

    def log_extra(self) -> dict:
        """The learning rate, last column of each log row."""
        return {"lr": self.opt.param_groups[0]["lr"]}

    # ----------------------------------------------------------------------------- state
    def state(self) -> dict:
        """This trainer's part of a bit-exact resume (the loop adds iteration, RNG, log rows)."""
        return {
            "net": self.net.state_dict(),
            "opt": self.opt.state_dict(),
            "sched": self.scheduler.state_dict(),
        }

    def restore(self, ck: dict) -> None:
        """Inverse of :meth:`state` (whether to resume at all is the loop's decision)."""
        self.net.load_state_dict(ck["net"])
        self.opt.load_state_dict(ck["opt"])
        self.scheduler.load_state_dict(ck["sched"])

    def write_tables(self) -> None:
        """``train_log.parquet`` (written at each checkpoint)."""
        df = pd.DataFrame(self.log_rows, columns=["iteration", "n", "loss", "pair_acc", "lr"])
        df.insert(0, "ranker", self.opts.name)
        write_parquet_atomic(df, self.out / "train_log.parquet")

    # ----------------------------------------------------------------------------- loop
    def run(self) -> dict:
        """Train (resuming ``checkpoint/last.pth`` when made from the same inputs), export,
        evaluate; return the evaluation summary.

        The output folder is locked for the run: a second run into it stops at once.
        """
        with self.locked():
            try:
                self.resume()
                cache = self._cache()
                if self.iteration < self.sched["iterations"]:
                    self._loop(cache)
                self.checkpoint()
                if not self.dist.is_main:  # rank 0 evaluates and writes
                    return {}
                self.dist.phase = "evaluation (rank 0)"
                summary = self.evaluate(cache)
                self.tb_scalars("eval", summary)
                self.export(summary)
                return summary
            finally:
                self.close_tensorboard()

    def _loop(self, cache: ImageCache) -> None:
        opts, total = self.opts, self.sched["iterations"]
        dataset = PairDataset(self.index, cache, self.patch, opts.seed, opts.augment)
        loader = iteration_loader(
            dataset,
            self.iteration,
            total,
            self.sched["batch_size"],
            opts.workers,
            pin_memory=self.device.type == "cuda",
            slots=self.slots,
        )
        self.iterate(loader, total, opts.log_every, opts.checkpoint_every)

    # ----------------------------------------------------------------------------- outputs
    def evaluate(self, cache: ImageCache) -> dict:
        """Write ``eval.parquet`` and ``eval_summary.json`` for the validation split."""
        ev = ranker_outputs(self.net, self.index, cache, self.device)
        ev.insert(0, "ranker", self.opts.name)
        ev["stand_in"] = self.stand_in
        write_parquet_atomic(ev, self.out / "eval.parquet")
        # n_params: measured from the network (supplement Table 2's "Params (K)" cells)
        n_params = sum(p.numel() for p in self.net.parameters())
        summary = {"ranker": self.opts.name, "iterations": self.iteration, "n_params": n_params,
                   **summarise(ev), "stand_in": self.stand_in}
        if not len(ev):
            log.warning("ranker %s: the index has no validation rows: no SROCC", self.opts.name)
        write_bytes_atomic(self.out / "eval_summary.json", json_bytes(summary))
        return summary

    def export(self, summary: dict) -> Path:
        """Write ``model.pth`` (plain fp32 state dict, authors' keys) and ``model.json``."""
        path = self.out / "model.pth"
        sha = export_weights(self.net, path)
        rows = self.index.rows
        levels = rows.groupby("method")["level"].first().sort_values()
        meta = {
            "ranker": self.opts.name,
            "arch": self.opts.arch,
            "arch_options": self.opts.arch_options,
            "iterations": self.iteration,
            "loss": self.opts.loss,
            "schedule": self.sched,
            "data": {
                "index": str(self.paths.index),
                "index_sha256": self.index_sha256,
                "metric": self.index.metric,
                "methods": {str(m): int(v) for m, v in levels.items()},
                "patch": self.patch,
                "augment": self.opts.augment,
                "train_positions": len(self.index.positions("train")),
                "val_patches": int((rows["split"] == "val").sum()),
            },
            "stand_in": self.stand_in,
            "bn_replicas": self.bn_replicas,
            "world_size": self.dist.world_size,
            "weights_sha256": sha,
            "eval": {k: summary[k] for k in ("srocc", "krocc", "plcc", "pair_accuracy")},
            "options": self.opts.to_json(),
        }
        write_metadata(path, meta)
        return path

