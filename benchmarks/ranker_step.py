"""Time our Ranker training step against a plain fp32 loop of the same network, same batch.

Reference ("authors' loop", their ``Ranker_model``): fp32, contiguous tensors, plain Adam
(weight decay 1e-4), the two patches of each pair in two forward passes, outputs clamped to
+-5, margin-ranking loss (margin 0.5), the loss read back with ``.item()`` every iteration (as
their log dict does), batches already on the device (no data loading).
Ours: :class:`ranksrgan.ranker.engine.RankerTrainer.step` (bf16 autocast + channels_last +
fused Adam on CUDA, no host synchronisation inside the step), **including** data loading:
pairs cropped from the decoded-image cache through the DataLoader.

Issue target (GPU): >= 3x at batch 16 x 296 (VGG-12, nf 64).

    PYTHONPATH=src python3 benchmarks/ranker_step.py --device cuda
    PYTHONPATH=src python3 benchmarks/ranker_step.py --device cpu --quick

``--nproc N``: our step on 1 process (``--bn-replicas N``) vs N processes (torchrun, NCCL on
CUDA, gloo on the CPU) on the same global batch, with the share of each N-process iteration
spent in collectives (the gradient all-reduce; synchronised around it on CUDA). Same results
either way (tests/toolkit/test_fit_dist.py). On one CPU host the N processes share its cores
(cores / N threads each): the CPU figure is the split's and gloo's overhead, not a speed-up.

    PYTHONPATH=src python3 benchmarks/ranker_step.py --device cpu --quick --nproc 2
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import skimage.data
import torch
from _nproc import print_comparison, run_workers  # benchmarks/_nproc.py
from scipy.ndimage import gaussian_filter

from ranksrgan import archs
from ranksrgan.fit.data import iteration_loader
from ranksrgan.io import write_png
from ranksrgan.ranker.data import PairDataset
from ranksrgan.ranker.engine import RankerPaths, RankerTrainer
from ranksrgan.ranker.options import RankerOptions

TARGET_RATIO = 3.0


def make_index(root: Path, size: int) -> Path:
    """A rank index over three blur levels of real photos, positions on a stride-size/2 grid."""
    rows = []
    for stem in ("astronaut", "coffee", "rocket", "chelsea"):
        img = getattr(skimage.data, stem)()[..., :3]
        h, w = img.shape[:2]
        for level, sigma in enumerate((2.0, 0.8, 0.0)):
            out = img if sigma == 0 else np.stack(
                [gaussian_filter(img[..., c].astype(np.float64), sigma) for c in range(3)], -1
            )
            path = root / "sr" / str(level) / f"{stem}.png"
            write_png(path, np.clip(np.round(out), 0, 255).astype(np.uint8))
            for y in range(0, h - size + 1, size // 2):
                for x in range(0, w - size + 1, size // 2):
                    rows.append({
                        "image": stem, "dataset": "bench", "x": x, "y": y, "size": size,
                        "method": f"m{level}", "level": level, "path": str(path),
                        "score": float(2 - level), "label": float(2 - level), "metric": "toy",
                        "split": "train",
                    })
    index = root / "index.parquet"
    pd.DataFrame(rows).to_parquet(index, index=False)
    return index


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class Reference:
    """The authors' loop on one fixed batch already on the device."""

    def __init__(self, args, device: torch.device):
        torch.manual_seed(0)
        self.device = device
        self.net = archs.build(args.arch, nf=args.nf).to(device).train()
        self.opt = torch.optim.Adam(
            self.net.parameters(), lr=1e-4, weight_decay=1e-4, foreach=False
        )
        self.crit = torch.nn.MarginRankingLoss(margin=0.5)
        shape = (args.batch, 3, args.patch, args.patch)
        self.a, self.b = torch.rand(shape, device=device), torch.rand(shape, device=device)
        self.target = torch.where(torch.rand(args.batch, 1, device=device) < 0.5, 1.0, -1.0)

    def run(self, iters: int) -> float:
        """ms per iteration over ``iters`` steps."""
        sync(self.device)
        t = time.perf_counter()
        for _ in range(iters):
            self.opt.zero_grad()
            s1, s2 = self.net(self.a).clamp(-5, 5), self.net(self.b).clamp(-5, 5)
            loss = self.crit(s1, s2, self.target)
            loss.backward()
            self.opt.step()
            loss.item()
        sync(self.device)
        return 1000 * (time.perf_counter() - t) / iters


class Ours:
    """Our trainer's step, fed by the DataLoader from the decoded-image cache."""

    def __init__(
        self, args, device: torch.device, index: Path, root: Path, total: int, **split
    ):
        """``split``: ``dist`` (a process group) and ``bn_replicas``, for ``--nproc``."""
        opts = RankerOptions(
            name="bench", arch=args.arch, arch_options={"nf": args.nf}, batch_size=args.batch,
            workers=args.workers, precision=args.precision, seed=0,
        )
        self.device = device
        self.tr = RankerTrainer(
            opts, RankerPaths(index=index, out_dir=root / "out"), device, **split
        )
        self.pg = self.tr.dist
        ds = PairDataset(self.tr.index, self.tr._cache(), self.tr.patch, seed=0)
        self.it = iter(
            iteration_loader(ds, 0, total, args.batch, args.workers, device.type == "cuda",
                             slots=self.tr.slots)
        )

    def run(self, iters: int) -> float:
        """ms per iteration over ``iters`` steps, data loading included (``self.comm_ms``:
        ms per iteration in collectives)."""
        self.pg.barrier()
        sync(self.device)
        self.pg.comm_s, t = 0.0, time.perf_counter()
        pending = [self.tr.step(*next(self.it)) for _ in range(iters)]  # no host sync inside
        self.pg.mean_(torch.stack(pending)).cpu()  # the one sync a log interval would do
        sync(self.device)
        self.comm_ms = 1000 * self.pg.comm_s / iters
        return 1000 * (time.perf_counter() - t) / iters


def worker(args, device_name: str) -> None:
    """One torchrun process of ``--nproc``: rank 0 prints the timings as one JSON line."""
    from ranksrgan.fit.dist import process_group

    with process_group(device_name) as pg:
        pg.time_comm = True
        root = Path(args.workdir)
        index = pg.main_first(lambda: make_index(root / "data", args.patch))
        total = (args.warmup + args.iters) * (args.rounds + 1)
        ours = Ours(args, pg.device, index, root, total, dist=pg, bn_replicas=args.nproc)
        ours.run(args.warmup)
        rounds = []
        for _ in range(args.rounds):
            rounds.append((ours.run(args.iters), ours.comm_ms))
        ms, comm = min(rounds)
        vals = pg.mean_(torch.tensor([ms, comm], dtype=torch.float64))
        if pg.is_main:
            print("NPROC_RESULT " + json.dumps({"ms": float(vals[0]), "comm_ms": float(vals[1]),
                                                "threads": torch.get_num_threads()}))


def compare_nproc(args, device: torch.device) -> None:
    """1 process (``bn_replicas`` N) vs N torchrun processes on the same global batch."""
    n, cores = args.nproc, os.cpu_count() or 1
    threads = max(1, cores // n)  # per process, the 1-process baseline's too: the split alone
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        index = make_index(Path(tmp) / "data", args.patch)
        total = (args.warmup + args.iters) * (args.rounds + 1)
        one = Ours(args, device, index, Path(tmp) / "one", total, bn_replicas=n)
        one.run(args.warmup)
        one_ms = min(one.run(args.iters) for _ in range(args.rounds))
        res = run_workers(__file__, n, threads, tmp)
    print(f"device={device}, {args.arch} nf={args.nf}, global batch={args.batch} pairs, "
          f"patch={args.patch}, bn_replicas={n}, best of {args.rounds} x {args.iters} iterations")
    print_comparison(one_ms, torch.get_num_threads(), res, n, threads, device.type == "cpu")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    ap.add_argument("--quick", action="store_true",
                    help="VGG-12 nf 16, batch 4, 128 px patches, few iterations (CPU)")
    ap.add_argument("--arch", default="ranker_vgg12")
    ap.add_argument("--nf", type=int)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--patch", type=int)
    ap.add_argument("--iters", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--workers", type=int)
    ap.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds; the best counts")
    ap.add_argument("--nproc", type=int, help="compare 1 process with N (torchrun) processes")
    # the workers' name of --nproc (torchrun would take --nproc for its --nproc-per-node)
    ap.add_argument("--split", type=int, dest="nproc", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)  # the --nproc workers' data folder
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda but no CUDA device")
    q = args.quick
    args.nf = args.nf or (16 if q else 64)
    args.batch = args.batch or (4 if q else 16)
    args.patch = args.patch or (128 if q else 296)
    args.iters = args.iters or (10 if q else 50)
    args.warmup = args.warmup or (3 if q else 10)
    args.workers = args.workers if args.workers is not None else (0 if q else 6)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if args.nproc:
        if "RANK" in os.environ:
            return worker(args, args.device)
        return compare_nproc(args, device)
    with tempfile.TemporaryDirectory() as tmp:
        index = make_index(Path(tmp) / "data", args.patch)
        ref = Reference(args, device)
        ours = Ours(args, device, index, Path(tmp), (args.warmup + args.iters) * (args.rounds + 1))
        ref.run(args.warmup), ours.run(args.warmup)
        # interleaved rounds, best of each: a busy shared machine slows both alike
        times = [(ref.run(args.iters), ours.run(args.iters)) for _ in range(args.rounds)]
        ref_ms, ours_ms = min(t[0] for t in times), min(t[1] for t in times)
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(f"device={device} ({name}), {args.arch} nf={args.nf}, batch={args.batch} pairs, "
          f"patch={args.patch}, precision={args.precision if device.type == 'cuda' else 'fp32'}"
          f", workers={args.workers}")
    print(f"reference (authors' loop, fp32, no data loading): {ref_ms:8.1f} ms/iter")
    print(f"ours (RankerTrainer.step + data loading):         {ours_ms:8.1f} ms/iter")
    print(f"speed-up ours vs reference: {ref_ms / ours_ms:.2f}x (target >= {TARGET_RATIO}x on GPU)")


if __name__ == "__main__":
    main()
