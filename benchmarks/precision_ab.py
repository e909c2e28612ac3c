"""A/B of the training precision: the same GAN run in fp32 (the authors') and in bf16 autocast.

Does bf16 leave NIQE and PSNR within noise after the same iterations? Both arms start from the
same pretrained generator (an fp32 L1 pretraining run, shared), with the same seed, data order
and iteration count, through :class:`ranksrgan.train.engine.Trainer` (SRGAN's recipe:
perceptual conv5_4 L1 + vanilla GAN 5e-3, VGG discriminator). "Noise" is measured, not
assumed: a third run repeats fp32 with another seed, and the report compares
``|bf16 - fp32|`` with ``|fp32(seed b) - fp32(seed a)|`` (with random VGG weights the other
seed also draws another random VGG, so that yardstick is wider than with the real VGG19).
Scores: PSNR (Y, shave 4, PIRM) and NIQE (Y, shave 4) of each generator on held-out real
photos (scikit-image), never trained on.

Offline stand-in: the perceptual loss uses random VGG19 weights (torchvision's ImageNet ones
cannot be downloaded here) in every arm alike; pass ``--vgg19 PATH`` for the real ones.

    PYTHONPATH=src python3 benchmarks/precision_ab.py --device cpu          # tiny, ~10 min
    PYTHONPATH=src python3 benchmarks/precision_ab.py --device cuda --gpu   # paper-sized nets

On the CPU bf16 runs through CPU autocast (``Trainer(cpu_bf16=True)``); the paper config's
training runs fp32 (``train.runtime.precision``) until a GPU run of this script shows bf16 is
within noise.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import skimage.data
import torch

from ranksrgan import archs
from ranksrgan.fit import load_plain_state
from ranksrgan.imresize import imresize
from ranksrgan.io import write_png
from ranksrgan.metrics import create_metric
from ranksrgan.train.engine import Trainer, TrainPaths
from ranksrgan.train.options import DataOptions, LossOptions, NetSpec, TrainOptions

TRAIN_PHOTOS = ("astronaut", "coffee", "hubble_deep_field", "immunohistochemistry")
TEST_PHOTOS = ("chelsea", "rocket", "retina")


def make_set(root: Path, name: str, stems: tuple[str, ...], side: int) -> Path:
    """Real photos in the data stage's layout (HR centre crop mod 4, MATLAB-bicubic x4 LR)."""
    rows = []
    for stem in stems:
        img = getattr(skimage.data, stem)()
        img = np.repeat(img[..., None], 3, 2) if img.ndim == 2 else img[..., :3]
        h, w = img.shape[:2]
        s = min(side, h, w) // 4 * 4
        y, x = (h - s) // 2, (w - s) // 2
        hr = np.ascontiguousarray(img[y : y + s, x : x + s])
        hp, lp = root / name / "HR" / f"{stem}.png", root / name / "LR" / f"{stem}.png"
        write_png(hp, hr)
        write_png(lp, imresize(hr, 0.25))
        rows.append({"image": stem, "hr_path": str(hp), "lr_path": str(lp)})
    out = root / name / "manifest.parquet"
    pd.DataFrame(rows).to_parquet(out, index=False)
    return out


def base_options(args) -> TrainOptions:
    """The L1 pretraining both arms start from."""
    gen = {"nf": 64, "nb": 16} if args.gpu else {"nf": 16, "nb": 2}
    return TrainOptions(
        name="pretrain",
        generator=NetSpec("srresnet", gen),
        discriminator=None,
        init=None,
        data=DataOptions(train=("ab",), val=None, hr_patch=args.patch, batch_size=args.batch,
                         workers=args.workers),
        losses=LossOptions(pixel_weight=1.0, pixel_criterion="l1"),
        iterations=args.pretrain, seed=10, lr_g=1e-3 if not args.gpu else 2e-4, lr_d=1e-4,
        betas=(0.9, 0.99), weight_decay_g=0.0, weight_decay_d=0.0, milestones=(), gamma=0.5,
        checkpoint_every=10**9, val_every=10**9, log_every=max(1, args.pretrain // 4),
        precision="fp32", channels_last=False,
    )


def gan_options(args, precision: str, seed: int) -> TrainOptions:
    """SRGAN's recipe (RankSRGAN's base without the rank term) at the chosen precision."""
    base = base_options(args)
    return replace(
        base,
        name=f"gan_{precision}_s{seed}",
        discriminator=NetSpec(f"discriminator_vgg{args.patch}", {"nf": 64 if args.gpu else 8}),
        init="pretrain",
        losses=LossOptions(
            perceptual_weight=1.0, perceptual_layer="conv5_4", perceptual_criterion="l1",
            perceptual_weights="vgg19" if args.vgg19 else "random",
            gan_weight=5e-3, gan_kind="vanilla",
        ),
        iterations=args.iterations, seed=seed, lr_g=1e-4, lr_d=1e-4,
        log_every=max(1, args.iterations // 4), precision=precision,
        channels_last=args.device == "cuda",
    )


def score(g_path: Path, arch: NetSpec, test_manifest: Path, device: torch.device) -> dict:
    """Mean PSNR (Y, shave 4) and NIQE (Y, shave 4) of a generator on the held-out photos."""
    from ranksrgan.io import read_image

    net = archs.build(arch.arch, **arch.options)
    load_plain_state(net, g_path, "A/B generator")
    net.to(device).eval()
    psnr, niqe = create_metric("psnr"), create_metric("niqe")
    def tensor(path: str) -> torch.Tensor:
        return torch.from_numpy(read_image(path).copy()).permute(2, 0, 1)[None].float() / 255

    rows = []
    for r in pd.read_parquet(test_manifest).itertuples():
        lr, hr = tensor(r.lr_path), tensor(r.hr_path)
        with torch.no_grad():  # fp32 inference in both arms: only training precision differs
            sr = net(lr.to(device)).clamp(0, 1).mul(255).round().div(255).cpu()
        rows.append({"psnr": float(psnr(sr, hr)), "niqe": float(niqe(sr))})
    return {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "niqe")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--gpu", action="store_true", help="paper-sized G (64/16) and D (nf 64)")
    ap.add_argument("--pretrain", type=int, default=None, help="L1 iterations of the shared init")
    ap.add_argument("--iterations", type=int, default=None, help="GAN iterations per arm")
    ap.add_argument("--patch", type=int, default=128, choices=[128, 296])
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--side", type=int, default=None, help="HR side of the photos")
    ap.add_argument("--seed", type=int, default=10)
    ap.add_argument("--noise-seed", type=int, default=11, help="second fp32 seed (noise yardstick)")
    ap.add_argument("--vgg19", default=None, help="torchvision VGG19 file (default: random VGG)")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--out", default=None, help="work folder (default: a temporary one)")
    args = ap.parse_args()
    gpu = args.gpu
    args.pretrain = args.pretrain or (5000 if gpu else 200)
    args.iterations = args.iterations or (5000 if gpu else 30)
    args.batch = args.batch or (16 if gpu else 2)
    args.side = args.side or (512 if gpu else 192)
    device = torch.device(args.device)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    root = Path(args.out or tempfile.mkdtemp(prefix="precision_ab_"))
    train = make_set(root / "data", "train", TRAIN_PHOTOS, args.side)
    test = make_set(root / "data", "test", TEST_PHOTOS, args.side)
    cache = root / "cache"

    t0 = time.perf_counter()
    pre = base_options(args)
    init = Trainer(pre, TrainPaths(root / "pretrain", (train,), cache_dir=cache), device).run()
    print(f"shared init: {pre.iterations} fp32 L1 iterations, {time.perf_counter() - t0:.0f} s")
    arms = [("fp32", args.seed), ("bf16", args.seed), ("fp32", args.noise_seed)]
    results = []
    for precision, seed in arms:
        opts = gan_options(args, precision, seed)
        paths = TrainPaths(root / opts.name, (train,), init=init, cache_dir=cache,
                           vgg19=Path(args.vgg19) if args.vgg19 else None)
        t = time.perf_counter()
        g = Trainer(opts, paths, device, cpu_bf16=True).run()
        secs = time.perf_counter() - t
        res = {"precision": precision, "seed": seed, "iterations": opts.iterations,
               "train_s": round(secs, 1), **score(g, opts.generator, test, device)}
        results.append(res)
        print(json.dumps(res))
    a, b, n = results
    d_prec = {k: b[k] - a[k] for k in ("psnr", "niqe")}
    d_seed = {k: n[k] - a[k] for k in ("psnr", "niqe")}
    print(f"\n{'arm':<18}{'PSNR (dB)':>10}{'NIQE':>8}{'train s':>9}")
    for r in results:
        print(f"{r['precision'] + ' seed ' + str(r['seed']):<18}{r['psnr']:>10.3f}"
              f"{r['niqe']:>8.3f}{r['train_s']:>9.1f}")
    print(f"bf16 - fp32 (same seed): PSNR {d_prec['psnr']:+.3f} dB, NIQE {d_prec['niqe']:+.3f}")
    print(f"fp32 seed {args.noise_seed} - seed {args.seed} (noise): PSNR {d_seed['psnr']:+.3f} dB,"
          f" NIQE {d_seed['niqe']:+.3f}")
    within = all(abs(d_prec[k]) <= max(abs(d_seed[k]), 1e-3) for k in d_prec)
    print("bf16 within seed noise:", "yes" if within else "NO")
    summary = {"device": str(device), "gpu_sized": gpu, "arms": results,
               "bf16_minus_fp32": d_prec, "seed_noise": d_seed, "within_noise": within,
               "stand_in": None if args.vgg19 else "random perceptual weights (all arms)"}
    (root / "precision_ab.json").write_text(json.dumps(summary, indent=2))
    print(f"results: {root / 'precision_ab.json'}")


if __name__ == "__main__":
    main()
