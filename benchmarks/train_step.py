"""Time our RankSRGAN training step against a plain fp32 step of the same networks.

Reference ("authors' loop"): fp32, contiguous tensors, plain Adam, a G step (perceptual on
VGG19 conv5_4 + vanilla GAN + rank-content with a frozen Ranker) then a D step, batches
already on the device (no data loading), as the authors' code does per iteration.
Ours: :class:`ranksrgan.train.engine.Trainer` (bf16 autocast + channels_last + fused Adam on
CUDA, optional torch.compile, no host syncs), **including** data loading from the decoded
patch cache through the DataLoader.

Reference measured on an H100, authors' networks, batch 8, HR 296, no data loading:
56 ms/iter fp32 (9.4 h for 600k iterations); target: >= 2.5x, i.e. <= 22 ms/iter.

    PYTHONPATH=src python3 benchmarks/train_step.py --device cuda
    PYTHONPATH=src python3 benchmarks/train_step.py --device cpu --quick

``--nproc N``: our step on 1 process (``bn_replicas: N``) vs N processes (torchrun, NCCL on
CUDA, gloo on the CPU) on the same global batch, with the share of each N-process iteration
spent in collectives (gradient all-reduce, D-output gathers; synchronised around each on
CUDA). Same results either way (tests/toolkit/test_fit_dist.py). On one CPU host the N processes
share the same cores (each gets cores / N threads), so the CPU figure is the overhead of
the split and of gloo, not a speed-up claim; a speed-up needs N devices.

    PYTHONPATH=src python3 benchmarks/train_step.py --device cpu --quick --nproc 2
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import skimage.data
import torch
from _nproc import print_comparison, run_workers  # benchmarks/_nproc.py

from ranksrgan import archs
from ranksrgan.imresize import imresize
from ranksrgan.io import write_png
from ranksrgan.losses import build_loss
from ranksrgan.train.engine import Trainer, TrainPaths
from ranksrgan.train.options import (
    DataOptions,
    LossOptions,
    NetSpec,
    RankerSpec,
    RankTerm,
    TrainOptions,
)

REF_H100_MS = 56.0
TARGET_RATIO = 2.5


def make_data(root: Path, min_side: int) -> Path:
    """Real photos (scikit-image) in the data stage's layout."""
    rows = []
    for stem in ("astronaut", "coffee", "rocket", "chelsea"):
        img = getattr(skimage.data, stem)()[..., :3]
        if min(img.shape[:2]) < min_side:
            continue
        h, w = img.shape[0] // 4 * 4, img.shape[1] // 4 * 4
        hr = np.ascontiguousarray(img[:h, :w])
        hp, lp = root / "HR" / f"{stem}.png", root / "LR" / f"{stem}.png"
        write_png(hp, hr)
        write_png(lp, imresize(hr, 0.25))
        rows.append({"image": stem, "hr_path": str(hp), "lr_path": str(lp)})
    path = root / "manifest.parquet"
    pd.DataFrame(rows).to_parquet(path, index=False)
    return path


def options(args) -> TrainOptions:
    q = args.quick
    return TrainOptions(
        name="bench",
        generator=NetSpec("srresnet", {"nf": 32 if q else 64, "nb": 4 if q else 16}),
        discriminator=NetSpec(f"discriminator_vgg{args.patch}", {"nf": 32 if q else 64}),
        init=None,
        data=DataOptions(train=("bench",), val=None, hr_patch=args.patch,
                         batch_size=args.batch, workers=args.workers),
        losses=LossOptions(
            perceptual_weight=1.0, perceptual_layer="conv5_4", perceptual_weights="random",
            gan_weight=5e-3, gan_kind="vanilla",
            rank=(RankTerm(3e-2, RankerSpec("random", "ranker_vgg12", {"nf": 32 if q else 64})),),
        ),
        iterations=10**9, seed=0, lr_g=1e-4, lr_d=1e-4, betas=(0.9, 0.99), weight_decay_g=0.0,
        weight_decay_d=0.0, milestones=(50000,), gamma=0.5, precision=args.precision,
        channels_last=True, compile=args.compile,
    )


class AuthorsStep:
    """The authors' loop structure in plain fp32 (separate forwards, plain Adam)."""

    def __init__(self, opts: TrainOptions, device: torch.device):
        g, d, r = opts.generator, opts.discriminator, opts.losses.rank[0].ranker
        self.G = archs.build(g.arch, **g.options).to(device).train()
        self.D = archs.build(d.arch, **d.options).to(device).train()
        self.R = archs.build(r.arch, **r.options).to(device).train()  # frozen, BN batch stats
        for p in self.R.parameters():
            p.requires_grad_(False)
        self.F = build_loss("perceptual", layer="conv5_4", weights="random").features.to(device)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=1e-4, betas=(0.9, 0.99),
                                      foreach=False)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=1e-4, betas=(0.9, 0.99),
                                      foreach=False)
        self.bce = torch.nn.BCEWithLogitsLoss()
        self.mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)

    def step(self, lr: torch.Tensor, hr: torch.Tensor) -> None:
        for p in self.D.parameters():
            p.requires_grad_(False)
        self.opt_g.zero_grad()
        fake = self.G(lr)
        real_fea = self.F((hr - self.mean) / self.std).detach()
        fake_fea = self.F((fake - self.mean) / self.std)
        l_fea = torch.nn.functional.l1_loss(fake_fea, real_fea)
        pred = self.D(fake)
        l_gan = 5e-3 * self.bce(pred, torch.ones_like(pred))
        l_rank = 3e-2 * torch.sigmoid(self.R(fake)).sum()
        (l_fea + l_gan + l_rank).backward()
        self.opt_g.step()
        for p in self.D.parameters():
            p.requires_grad_(True)
        self.opt_d.zero_grad()
        pr, pf = self.D(hr), self.D(fake.detach())
        l_d = self.bce(pr, torch.ones_like(pr)) + self.bce(pf, torch.zeros_like(pf))
        l_d.backward()
        self.opt_d.step()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_reference(opts, device, warmup, iters) -> float:
    ref = AuthorsStep(opts, device)
    torch.manual_seed(0)
    b, p = opts.data.batch_size, opts.data.hr_patch
    lr = torch.rand(b, 3, p // 4, p // 4, device=device)
    hr = torch.rand(b, 3, p, p, device=device)
    for _ in range(warmup):
        ref.step(lr, hr)
    sync(device)
    t = time.perf_counter()
    for _ in range(iters):
        ref.step(lr, hr)
    sync(device)
    return 1000 * (time.perf_counter() - t) / iters


def time_ours(opts, device, manifest: Path, cache: Path, warmup, iters) -> float:
    from ranksrgan.fit.data import iteration_loader
    from ranksrgan.train.data import PatchCache, PatchDataset

    tr = Trainer(opts, TrainPaths(out_dir=cache / "out", train_manifests=(manifest,),
                                  cache_dir=cache), device)
    pc = PatchCache.build([manifest], cache)
    ds = PatchDataset(pc, opts.data.hr_patch, seed=0)
    loader = iteration_loader(ds, 0, warmup + iters, opts.data.batch_size, opts.data.workers,
                         pin_memory=device.type == "cuda")
    it = iter(loader)
    pending = []
    for i in range(warmup):
        pending.append(tr.step(*next(it), i))
    sync(device)
    t = time.perf_counter()
    for i in range(warmup, warmup + iters):
        pending.append(tr.step(*next(it), i))  # values stay on the device: no host sync
    torch.stack(pending).cpu()  # the one sync a log interval would do
    sync(device)
    return 1000 * (time.perf_counter() - t) / iters


def time_split(opts, device, manifest: Path, cache: Path, warmup, iters, pg) -> tuple[float, float]:
    """Our step on this rank's slice under ``pg``: (ms per iteration, ms in collectives)."""
    from ranksrgan.fit.data import iteration_loader
    from ranksrgan.train.data import PatchCache, PatchDataset

    tr = Trainer(opts, TrainPaths(out_dir=cache / "out", train_manifests=(manifest,),
                                  cache_dir=cache), device, dist=pg)
    pc = pg.main_first(lambda: PatchCache.build([manifest], cache))
    ds = PatchDataset(pc, opts.data.hr_patch, seed=0)
    loader = iteration_loader(ds, 0, warmup + iters, opts.data.batch_size, opts.data.workers,
                         pin_memory=device.type == "cuda", slots=tr.slots)
    it = iter(loader)
    pending = [tr.step(*next(it), i) for i in range(warmup)]
    pg.barrier()
    sync(device)
    pg.comm_s, t = 0.0, time.perf_counter()
    for i in range(warmup, warmup + iters):
        pending.append(tr.step(*next(it), i))
    pg.mean_(torch.stack(pending)).cpu()  # the one sync (and all-reduce) a log interval does
    sync(device)
    return 1000 * (time.perf_counter() - t) / iters, 1000 * pg.comm_s / iters


def worker(args, opts) -> None:
    """One torchrun process of ``--nproc``: rank 0 prints the timings as one JSON line."""
    from ranksrgan.fit.dist import process_group

    with process_group(args.device) as pg:
        pg.time_comm = True
        root = Path(args.workdir)
        manifest = pg.main_first(lambda: make_data(root / "data", args.patch))
        ms, comm = time_split(opts, pg.device, manifest, root / "cache", args.warmup,
                              args.iters, pg)
        vals = pg.mean_(torch.tensor([ms, comm], dtype=torch.float64))
        if pg.is_main:
            print("NPROC_RESULT " + json.dumps({"ms": float(vals[0]), "comm_ms": float(vals[1]),
                                                "threads": torch.get_num_threads()}))


def compare_nproc(args, opts, device) -> None:
    """1 process (``bn_replicas: N``) vs N torchrun processes on the same global batch."""
    from ranksrgan.fit.dist import SINGLE

    n, cores = args.nproc, os.cpu_count() or 1
    threads = max(1, cores // n)  # per process, the 1-process baseline's too: the split alone
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = make_data(Path(tmp) / "data", args.patch)
        one_ms, _ = time_split(opts, device, manifest, Path(tmp) / "cache", args.warmup,
                               args.iters, SINGLE)
        res = run_workers(__file__, n, threads, tmp)
    print(f"device={device}, global batch={args.batch}, HR={args.patch}, quick={args.quick}, "
          f"bn_replicas={n}, {args.iters} timed iterations")
    print_comparison(one_ms, torch.get_num_threads(), res, n, threads, device.type == "cpu")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    ap.add_argument("--quick", action="store_true",
                    help="smaller nets, batch 2, HR 128, few iterations (CPU smoke run)")
    ap.add_argument("--batch", type=int)
    ap.add_argument("--patch", type=int, choices=[128, 296])
    ap.add_argument("--iters", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    ap.add_argument("--compile", action="store_true", help="torch.compile G and D")
    ap.add_argument("--nproc", type=int, help="compare 1 process with N (torchrun) processes")
    # the workers' name of --nproc (torchrun would take --nproc for its --nproc-per-node)
    ap.add_argument("--split", type=int, dest="nproc", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)  # the --nproc workers' data folder
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda but no CUDA device")
    args.batch = args.batch or (2 if args.quick and not args.nproc else 8 if not args.quick else 4)
    args.patch = args.patch or (128 if args.quick else 296)
    args.iters = args.iters or (5 if args.quick else 50)
    args.warmup = args.warmup or (2 if args.quick else 10)
    args.workers = args.workers if args.workers is not None else (0 if args.quick else 6)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    opts = options(args)
    if args.nproc:
        opts = replace(opts, bn_replicas=args.nproc)  # 1 process computes what N processes do
        if "RANK" in os.environ:
            return worker(args, opts)
        return compare_nproc(args, opts, device)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = make_data(Path(tmp) / "data", args.patch)
        ref_ms = time_reference(opts, device, args.warmup, args.iters)
        ours_ms = time_ours(opts, device, manifest, Path(tmp) / "cache", args.warmup, args.iters)
    print(f"device={device} ({torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}),"
          f" batch={args.batch}, HR={args.patch}, quick={args.quick}, "
          f"precision={args.precision if device.type == 'cuda' else 'fp32 (CPU)'}, "
          f"compile={args.compile}, workers={args.workers}")
    print(f"reference (authors' loop, fp32, no data loading): {ref_ms:8.1f} ms/iter")
    print(f"ours (engine step + data loading):               {ours_ms:8.1f} ms/iter")
    print(f"speed-up ours vs reference: {ref_ms / ours_ms:.2f}x (target >= {TARGET_RATIO}x)")
    if not args.quick:
        print(f"vs the H100 reference {REF_H100_MS} ms/iter: {REF_H100_MS / ours_ms:.2f}x; "
              f"600k iterations would take {ours_ms * 600e3 / 3.6e6:.1f} h")


if __name__ == "__main__":
    main()
