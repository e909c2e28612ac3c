"""The training engine: one loop for pixel-loss (FSRCNN, SRResNet, RRDB-PSNR) and GAN presets
(SRGAN, ESRGAN, RankSRGAN and its variants).

Step structure follows the authors' code: a generator step (pixel/MSE/perceptual/GAN/rank
terms, D frozen), then a discriminator step on ``D(real)`` and ``D(G(x).detach())``; both
MultiStepLR schedulers step once per iteration. Speed: bf16 autocast and ``channels_last`` on
CUDA, optional ``torch.compile``, fused Adam, and no host synchronisation inside the step (loss
values stay on the device until a log interval ends). The loop around the step (lock, resume,
log/checkpoint intervals, the finite check) is the toolkit's :class:`ranksrgan.fit.loop.
LoopTrainer`, shared with the Ranker trainer.

``bn_replicas``: D (and the train-mode Ranker of the rank-content loss) run on
``batch / bn_replicas`` chunks, each BatchNorm-normalised on its own, as the authors' 2-GPU
DataParallel did (:func:`ranksrgan.archs.common.replica_forward`).

Several processes (``torchrun``, :mod:`ranksrgan.fit.dist`): the preset's batch is the
global batch; each rank trains on its slice and runs ``bn_replicas / N`` replicas on it, so N
processes compute what one process with the same ``bn_replicas`` computes (``bn_replicas``
must be a multiple of N when D or a train-mode Ranker is used: one-line error otherwise).
Per rank the mean losses are means over the slice and the gradients are averaged over the
ranks; D's outputs are gathered over the ranks before the adversarial loss (RaGAN's batch
means are over the whole batch, as DataParallel's gathered outputs were); the rank-content
loss is a SUM over the batch (the authors'), so each rank's sum counts N times before the
average. Rank 0 validates and writes every file; G.json records the world size.

``ema_decay`` (BasicSR's, off unless a preset sets it): after every iteration the generator's
exponential moving average ``ema = d * ema + (1 - d) * G`` over its parameters (buffers
copied), started from the initial G, kept in the checkpoint and exported as ``G_ema.pth`` +
``G_ema.json`` (``weights_variant: ema``) beside ``G.pth``. Validation scores G itself.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ranksrgan import archs
from ranksrgan.archs.common import replica_forward
from ranksrgan.errors import RankSRGANError
from ranksrgan.fit import export_weights, load_plain_state, seed_all, write_metadata
from ranksrgan.fit.data import iteration_loader
from ranksrgan.fit.dist import SINGLE, ProcessGroup, has_batchnorm
from ranksrgan.fit.export import metadata_labels
from ranksrgan.fit.loop import LoopTrainer, Placement, StepLog, adam_multistep
from ranksrgan.fit.resume import run_key
from ranksrgan.io import sha256_file, write_parquet_atomic
from ranksrgan.io.contracts import stand_in_note
from ranksrgan.losses import build_loss
from ranksrgan.train.data import PatchCache, PatchDataset
from ranksrgan.train.options import TrainOptions

log = logging.getLogger(__name__)

VAL_COLUMNS = ("iteration", "image", "psnr", "niqe")
LABEL_RANDOM_VGG = "random perceptual weights"
LABEL_RANDOM_RANKER = "random Ranker"

__all__ = ["Trainer", "TrainPaths", "load_plain_state"]


@dataclass(frozen=True)
class TrainPaths:
    """Files one training run reads and writes."""

    out_dir: Path
    train_manifests: tuple[Path, ...]
    val_manifest: Path | None = None
    init: Path | None = None
    # the weights of the rank-content terms' Rankers that load a file (source path or stage),
    # in term order: one per ``LossOptions.rankers_to_load()``
    rankers: tuple[Path, ...] = ()
    vgg19: Path | None = None
    cache_dir: Path | None = None


class Trainer(LoopTrainer):
    """Builds networks, losses and data for one preset and runs (or resumes) its training."""

    def __init__(
        self,
        opts: TrainOptions,
        paths: TrainPaths,
        device: torch.device,
        cpu_bf16: bool = False,
        dist: ProcessGroup = SINGLE,
        ema_decay: float | None = None,
    ):
        """``cpu_bf16``: honour ``precision: bf16`` on the CPU too (benchmarks only; a CPU
        run is otherwise fp32 whatever the config says). ``dist``: the run's processes
        (:func:`ranksrgan.fit.dist.process_group`; default a single one).
        ``ema_decay``: the preset's ``ema_decay`` (None: the options', else 0 = off)."""
        self.opts, self.paths, self.device, self.dist = opts, paths, device, dist
        if ema_decay is None:
            ema_decay = getattr(opts, "ema_decay", 0.0) or 0.0
        if not 0.0 <= float(ema_decay) < 1.0:
            raise RankSRGANError(
                f"config key 'train.presets.{opts.name}.ema_decay': must be in [0, 1), "
                f"got {ema_decay}"
            )
        self.ema_decay = float(ema_decay)
        self.out = Path(paths.out_dir)
        self.ckpt_dir = self.out / "checkpoint"
        self.what = f"preset {opts.name}"
        lo = opts.losses
        self.labels = [*opts.labels, *metadata_labels(paths.init)]
        if lo.perceptual_weight and lo.perceptual_weights == "random":
            self.labels.append(LABEL_RANDOM_VGG)
        if any(t.ranker.source == "random" for t in lo.rank):
            self.labels.append(LABEL_RANDOM_RANKER)
        if len(paths.rankers) != len(lo.rankers_to_load()):
            raise RankSRGANError(
                f"preset {opts.name}: {len(lo.rankers_to_load())} Ranker weights file(s) needed "
                f"(one --ranker per stage/path rank term, in order), {len(paths.rankers)} given"
            )
        for r in paths.rankers:
            # a stand-in Ranker (e.g. a tiny demo one) makes this generator a stand-in too
            self.labels += [f"Ranker: {lab}" for lab in metadata_labels(r)]
        self.labels = list(dict.fromkeys(self.labels))
        for lab in self.labels:
            log.warning("preset %s: STAND-IN: %s", opts.name, lab)

        seed_all(opts.seed)
        self.place = Placement.for_training(device, opts.precision, opts.channels_last, cpu_bf16)
        self.G = archs.build(opts.generator.arch, **opts.generator.options)
        if paths.init is not None:
            load_plain_state(self.G, paths.init, f"init generator ({opts.generator.arch})")
        self.place.module(self.G).train()
        self.D = None
        if opts.discriminator is not None:
            self.D = archs.build(opts.discriminator.arch, **opts.discriminator.options)
            self.place.module(self.D).train()
        where = f"train.presets.{opts.name}"
        self.slots = dist.batch_slice(opts.data.batch_size, f"{where}.data.batch_size")
        lo = opts.losses
        batch_stats = (self.D is not None and has_batchnorm(self.D)) or (
            any(t.bn_mode == "batch" for t in lo.rank)
        )
        # BatchNorm replicas on this rank's slice (bn_replicas / world size)
        self.replicas = dist.local_replicas(
            opts.bn_replicas, opts.data.batch_size, f"{where}.bn_replicas", batch_stats
        )
        dist.broadcast_(self.G)  # same seed, same init file: a check that costs one copy
        if self.D is not None:
            dist.broadcast_(self.D)
        self.G_ema: Any = None
        if self.ema_decay:
            self.G_ema = copy.deepcopy(self.G).eval()
            for p in self.G_ema.parameters():
                p.requires_grad_(False)
        self.loss_fns = self._build_losses()

        def optimiser(net: torch.nn.Module, lr: float, weight_decay: float):
            return adam_multistep(
                net.parameters(), device, lr, opts.betas, weight_decay, opts.milestones, opts.gamma
            )

        self.opt_g, self.sched_g = optimiser(self.G, opts.lr_g, opts.weight_decay_g)
        # Any: used only where a discriminator exists (self.D is not None)
        self.opt_d: Any = None
        self.sched_d: Any = None
        if self.D is not None:
            self.opt_d, self.sched_d = optimiser(self.D, opts.lr_d, opts.weight_decay_d)
        self.G_run = torch.compile(self.G) if opts.compile else self.G
        # Any: a compiled module is typed as a function
        self.D_run: Any = torch.compile(self.D) if (opts.compile and self.D is not None) else self.D
        self.iteration = 0
        self.val_rows: list[dict] = []
        self.columns = self._loss_columns()
        self.steplog = StepLog(self.columns, self.what)
        self.run_key = self._run_key()
        self._validator = None  # run()'s, for the every-val_every hook

    # ----------------------------------------------------------------------------- setup
    def _build_losses(self) -> dict[str, Any]:
        # Any: each loss module has its own methods (the GAN loss's generator/discriminator)
        lo, place = self.opts.losses, self.place
        fns: dict[str, Any] = {}
        if lo.pixel_weight:
            fns["pix"] = build_loss(lo.pixel_criterion)
        if lo.mse_weight:
            fns["mse"] = build_loss("l2")
        if lo.perceptual_weight:
            fns["percep"] = build_loss(
                "perceptual",
                layer=lo.perceptual_layer,
                criterion=lo.perceptual_criterion,
                weights=lo.perceptual_weights,
                path=self.paths.vgg19,
                seed=self.opts.seed,
            )
            place.module(fns["percep"])
        if lo.gan_weight:
            fns["gan"] = build_loss("gan", kind=lo.gan_kind)
        files = iter(self.paths.rankers)
        for key, term in zip(self.rank_keys(), lo.rank, strict=True):
            spec = term.ranker
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(spec.seed)
                ranker = archs.build(spec.arch, **spec.options)
            if spec.source != "random":
                load_plain_state(ranker, next(files), f"Ranker ({spec.arch})")
            fns[key] = build_loss(
                "rank_content",
                ranker=ranker,
                bias=term.bias,
                bn_mode=term.bn_mode,
                replicas=self.replicas,
            )
            place.module(fns[key])
        if not fns:
            raise RankSRGANError(f"preset {self.opts.name}: every generator loss weight is 0")
        return fns

    def rank_keys(self) -> list[str]:
        """Loss (and log column ``l_<key>``) names of the rank-content terms: ``rank`` for the
        paper's one term, ``rank_0``, ``rank_1``, ... for several."""
        n = len(self.opts.losses.rank)
        return ["rank"] if n == 1 else [f"rank_{i}" for i in range(n)]

    def _run_key(self) -> dict:
        """Everything that shapes the checkpoint: options (preset + runtime) and the bytes of
        every file read (init, Ranker and VGG19 weights when used, the training manifests)."""
        lo, paths = self.opts.losses, self.paths
        uses_vgg = "percep" in self.loss_fns and lo.perceptual_weights == "vgg19"
        settings: dict[str, Any] = {"options": self.opts.to_json()}  # ema_decay included
        return run_key(
            settings,
            {
                "init": paths.init,
                "ranker": list(paths.rankers) or None,
                "vgg19": paths.vgg19 if uses_vgg else None,
                "train_manifests": list(paths.train_manifests),
            },
        )

    def _loss_columns(self) -> list[str]:
        keys = ["pix", "mse", "percep", "gan", *self.rank_keys()]
        cols = [f"l_{k}" for k in keys if k in self.loss_fns]
        cols.append("l_g_total")
        if self.D is not None:
            cols += ["l_d", "d_real", "d_fake"]
        return cols

    # ----------------------------------------------------------------------------- step
    def _d(self, x: torch.Tensor) -> torch.Tensor:
        """D's output, per-replica BatchNorm when ``bn_replicas`` > 1, for the global batch
        (every rank's slice, gathered in rank order, on several processes)."""
        return self.dist.gather_batch(replica_forward(self.D_run, x, self.replicas))

    def step(self, lr_u8: torch.Tensor, hr_u8: torch.Tensor, iteration: int) -> torch.Tensor:
        """One G step (+ D step); returns the logged values as one device tensor (no sync)."""
        lo, fns, opts = self.opts.losses, self.loss_fns, self.opts
        lr, hr = self.place.images(lr_u8), self.place.images(hr_u8)
        vals: list[torch.Tensor] = []
        g_update = self.D is None or (
            iteration % opts.d_update_ratio == 0 and iteration >= opts.d_init_iters
        )
        if self.D is not None:
            for p in self.D.parameters():
                p.requires_grad_(False)
        with self.place.autocast():
            sr = self.G_run(lr)
            terms = []
            if "pix" in fns:
                terms.append(lo.pixel_weight * fns["pix"](sr, hr))
            if "mse" in fns:
                terms.append(lo.mse_weight * fns["mse"](sr, hr))
            if "percep" in fns:
                terms.append(lo.perceptual_weight * fns["percep"](sr, hr))
            if "gan" in fns:
                pred_fake = self._d(sr)
                pred_real = None
                if fns["gan"].needs_real_for_generator:
                    with torch.no_grad():
                        pred_real = self._d(hr)
                terms.append(lo.gan_weight * fns["gan"].generator(pred_fake, pred_real))
            for key, term in zip(self.rank_keys(), lo.rank, strict=True):
                l_rank = fns[key](sr)  # a sum over the batch: N slices' sums averaged
                if self.dist.active:
                    l_rank = l_rank * self.dist.world_size
                terms.append(term.weight * l_rank)
        l_total = torch.stack(terms).sum()
        if g_update:
            self.opt_g.zero_grad(set_to_none=True)
            l_total.backward()
            self.dist.average_gradients(self.G.parameters())
            self.opt_g.step()
        vals += [t.detach().float() for t in terms] + [l_total.detach()]
        if self.D is not None:
            for p in self.D.parameters():
                p.requires_grad_(True)
            self.opt_d.zero_grad(set_to_none=True)
            with self.place.autocast():
                pred_real = self._d(hr)
                pred_fake = self._d(sr.detach())
                l_d = fns["gan"].discriminator(pred_real, pred_fake)
            l_d.backward()
            self.dist.average_gradients(self.D.parameters())
            self.opt_d.step()
            vals += [
                l_d.detach().float(),
                pred_real.detach().float().mean(),
                pred_fake.detach().float().mean(),
            ]
            self.sched_d.step()
        self.sched_g.step()
        if self.G_ema is not None:
            self._update_ema()
        return torch.stack(vals)

    @torch.no_grad()
    def _update_ema(self) -> None:
        """``ema = d * ema + (1 - d) * G`` over the parameters; buffers copied (BasicSR's)."""
        ema = list(self.G_ema.parameters())
        torch._foreach_lerp_(ema, [p.detach() for p in self.G.parameters()], 1 - self.ema_decay)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
            b_ema.copy_(b)

    def train_step(self, batch) -> torch.Tensor:
        """:meth:`step` on a loader batch ``(lr, hr)`` at the current iteration."""
        lr_u8, hr_u8 = batch
        return self.step(lr_u8, hr_u8, self.iteration)

    def log_extra(self) -> dict:
        """The generator's learning rate, last column of each log row."""
        return {"lr_g": self.opt_g.param_groups[0]["lr"]}

    # ----------------------------------------------------------------------------- state
    def state(self) -> dict:
        """This trainer's part of a bit-exact resume (the loop adds iteration, RNG, log rows)."""
        return {
            "config_sha256": self.opts.config_sha256,
            "G": self.G.state_dict(),
            "D": self.D.state_dict() if self.D is not None else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict() if self.opt_d is not None else None,
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict() if self.sched_d is not None else None,
            "data_position": self.iteration,
            "val_rows": [[r["iteration"], r["image"], r["psnr"], r["niqe"]] for r in self.val_rows],
            **({"G_ema": self.G_ema.state_dict()} if self.G_ema is not None else {}),
        }

    def restore(self, ck: dict) -> None:
        """Inverse of :meth:`state` (whether to resume at all is the loop's decision)."""
        self.G.load_state_dict(ck["G"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(ck["G_ema"])
        if self.D is not None:
            self.D.load_state_dict(ck["D"])
            self.opt_d.load_state_dict(ck["opt_d"])
            self.sched_d.load_state_dict(ck["sched_d"])
        self.opt_g.load_state_dict(ck["opt_g"])
        self.sched_g.load_state_dict(ck["sched_g"])
        self.val_rows = [
            dict(zip(VAL_COLUMNS, r, strict=True)) for r in ck["val_rows"]
        ]

    # ----------------------------------------------------------------------------- outputs
    def write_tables(self) -> None:
        """``train_log.parquet`` and ``val.parquet`` (written at each checkpoint)."""
        cols = ["iteration", "n", *self.columns, "lr_g"]
        df = pd.DataFrame(self.log_rows, columns=cols)
        df.insert(0, "preset", self.opts.name)
        write_parquet_atomic(df, self.out / "train_log.parquet")
        v = pd.DataFrame(self.val_rows, columns=["iteration", "image", "psnr", "niqe"])
        v.insert(0, "preset", self.opts.name)
        v["stand_in"] = stand_in_note(self.labels)
        write_parquet_atomic(v, self.out / "val.parquet")

    def export(self) -> Path:
        """Write ``G.pth`` (plain fp32 CPU state dict, authors' keys) and ``G.json`` (rank 0's
        call; ``world_size``: the processes of the run that finished the training)."""
        g_path = self.out / "G.pth"
        weights_sha256 = export_weights(self.G, g_path)
        last_val = {}
        if self.val_rows:
            it = max(r["iteration"] for r in self.val_rows)
            rows = [r for r in self.val_rows if r["iteration"] == it]
            last_val = {
                "iteration": it,
                "psnr": float(np.mean([r["psnr"] for r in rows])),
                "niqe": float(np.mean([r["niqe"] for r in rows])),
            }
        meta = {
            "preset": self.opts.name,
            "arch": self.opts.generator.arch,
            "arch_options": self.opts.generator.options,
            "iterations": self.iteration,
            "init_from": str(self.paths.init) if self.paths.init else None,
            # the Ranker files of the rank-content terms, in term order
            "rankers": [
                {"name": spec.name, "path": str(path), "sha256": sha256_file(path)}
                for spec, path in zip(
                    self.opts.losses.rankers_to_load(), self.paths.rankers, strict=True
                )
            ],
            "stand_in": stand_in_note(self.labels),
            "config_sha256": self.opts.config_sha256,
            "weights_sha256": weights_sha256,
            "last_validation": last_val,
            "world_size": self.dist.world_size,
            "options": self.opts.to_json(),
        }
        ema_path = self.out / "G_ema.pth"
        if self.G_ema is not None:
            meta["ema"] = {"decay": self.ema_decay, "weights": ema_path.name}
            ema_meta = {
                **meta,
                "weights_variant": "ema",
                "ema_decay": self.ema_decay,
                "weights_sha256": export_weights(self.G_ema, ema_path),
                # the validation scored G, not its average
                "last_validation": {},
            }
            write_metadata(ema_path, ema_meta)
        else:  # a rerun without EMA: no stale average beside the new G
            ema_path.unlink(missing_ok=True)
            ema_path.with_suffix(".json").unlink(missing_ok=True)
        write_metadata(g_path, meta)
        return g_path

    # ----------------------------------------------------------------------------- loop
    def run(self, validator=None) -> Path | None:
        """Train (resuming ``checkpoint/last.pth`` when made from the same inputs), export G.

        The output folder is locked for the run: a second run into it stops at once. On
        several processes only rank 0 gets a ``validator`` and writes files; the other ranks
        return None.
        """
        with self.locked(), self._closing_logs():
            resumed = self.resume()
            if not resumed and validator is not None and self.paths.init is not None:
                self._validate(validator)  # iteration 0 = the pretrained start of the curve
            if self.iteration < self.opts.iterations:
                self._loop(validator)
            if validator is not None and (
                not self.val_rows or max(r["iteration"] for r in self.val_rows) < self.iteration
            ):
                self._validate(validator)
            self.checkpoint()
            if not self.dist.is_main:
                return None
            self.dist.phase = "export"
            return self.export()

    @contextlib.contextmanager
    def _closing_logs(self):
        try:
            yield
        finally:
            self.close_tensorboard()

    def _validate(self, validator) -> None:
        phase, self.dist.phase = self.dist.phase, "validation (rank 0)"
        for r in validator(self.G):
            self.val_rows.append({"iteration": self.iteration, **r})
        rows = [r for r in self.val_rows if r["iteration"] == self.iteration]
        self.tb_scalars(
            "val",
            {
                "psnr": float(np.mean([r["psnr"] for r in rows])),
                "niqe": float(np.nanmean([r["niqe"] for r in rows]))
                if any(r["niqe"] == r["niqe"] for r in rows)
                else float("nan"),
            },
        )
        self.tb_images("val", getattr(validator, "crops", {}))
        log.info(
            "preset %s it %d: val PSNR %.3f dB, NIQE %.3f (%d images)",
            self.opts.name,
            self.iteration,
            np.mean([r["psnr"] for r in rows]),
            np.mean([r["niqe"] for r in rows]),
            len(rows),
        )
        self.dist.phase = phase

    def _loop(self, validator) -> None:
        opts, d = self.opts, self.opts.data
        cache = self.dist.main_first(  # rank 0 decodes, the others reuse its cache
            lambda: PatchCache.build(
                list(self.paths.train_manifests), self.paths.cache_dir or (self.out / "cache")
            )
        )
        dataset = PatchDataset(
            cache, d.hr_patch, opts.seed, d.flip, d.rotate, d.lr_source, d.sub_images
        )
        loader = iteration_loader(
            dataset,
            self.iteration,
            opts.iterations,
            d.batch_size,
            d.workers,
            pin_memory=self.device.type == "cuda",
            slots=self.slots,
        )
        self._validator = validator
        try:
            self.iterate(loader, opts.iterations, opts.log_every, opts.checkpoint_every)
        finally:
            self._validator = None

    def after_iteration(self) -> None:
        """Validate every ``val_every`` iterations (after the log flush, before a checkpoint)."""
        if self._validator is not None and self.iteration % self.opts.val_every == 0:
            self._validate(self._validator)
