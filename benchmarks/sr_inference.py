"""SR inference speed: fp32 vs the fast path (bf16 autocast + channels_last [+ compile]).

Full-size SRResNet (16 blocks) and RRDBNet (23 RRDB) on a 510x339 LR input (a crop of a real
photo), one image per forward. Reports ms/image, images/s, the speed-up of the fast path over
fp32 measured in the same run, and the PSNR change it causes (uint8 outputs compared with the
bicubic x4 upsampling of the input, and with each other). Random weights are re-initialised
with unit gain so outputs have image-like range (the 0.1-scaled init gives near-zero outputs
and a trivially zero PSNR change); pass --weights-srresnet/--weights-rrdbnet for real ones.

Reference (H100, the authors' networks, fp32): SRResNet 16 ms, RRDBNet 127 ms per image.
Target: fast path >= 1.6x with <= 0.05 dB change.

    PYTHONPATH=src python3 benchmarks/sr_inference.py --device cuda [--compile]
    PYTHONPATH=src python3 benchmarks/sr_inference.py --device cpu --quick
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from skimage import data

from ranksrgan import archs, weights
from ranksrgan.imresize import imresize
from ranksrgan.sr.inference import (
    InferenceOptions,
    forward_tiled,
    prepare_model,
    to_tensor,
    to_uint8,
)

REFERENCE_MS = {"srresnet": 16.0, "rrdbnet": 127.0}
FULL = {"srresnet": {"nf": 64, "nb": 16}, "rrdbnet": {"nf": 64, "nb": 23, "gc": 32}}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def unit_gain_(net: torch.nn.Module, seed: int = 0) -> None:
    """Random weights with unit gain and small residual branches: outputs in an image-like range."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.dim() > 1:
                std = (1.0 / p[0].numel()) ** 0.5
                if any(k in name for k in ("recon_trunk", "RRDB_trunk")):
                    std *= 0.1  # keep deep residual trunks stable
                p.copy_(torch.randn(p.shape, generator=g) * std)
            else:
                p.zero_()


def timed(fn, device: torch.device, warmup: int, iters: int) -> tuple[float, object]:
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(iters):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu"
    )
    ap.add_argument(
        "--quick", action="store_true", help="small input and few iterations (CPU smoke run)"
    )
    ap.add_argument("--arch", choices=["srresnet", "rrdbnet", "all"], default="all")
    ap.add_argument(
        "--precision", choices=["bf16", "fp16"], default="bf16", help="fast-path autocast dtype"
    )
    ap.add_argument("--compile", action="store_true", help="also torch.compile the fast path")
    ap.add_argument("--no-cudnn-benchmark", action="store_true")
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--weights-srresnet", help="optional real weights (any supported layout)")
    ap.add_argument("--weights-rrdbnet", help="optional real weights (any supported layout)")
    args = ap.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not args.no_cudnn_benchmark
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 baseline = true fp32
        torch.backends.cudnn.allow_tf32 = False
    h, w = (48, 64) if args.quick else (339, 510)
    iters = args.iters or (2 if args.quick else 20)
    warmup = args.warmup or (1 if args.quick else 5)
    lr = np.ascontiguousarray(data.astronaut()[:h, :w])
    ref = imresize(lr, 4)
    x = to_tensor(lr, device)
    print(
        f"device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
        + f", LR input {w}x{h}, median of {iters} runs after {warmup} warm-up"
        + f", torch {torch.__version__}"
    )
    print(
        f"{'arch':9} {'path':28} {'ms/img':>9} {'img/s':>7} {'speed-up':>8} {'PSNR vs bic':>11} "
        f"{'dPSNR':>7} {'PSNR vs fp32':>12} {'ref ms':>7}"
    )
    for name in ["srresnet", "rrdbnet"] if args.arch == "all" else [args.arch]:
        net = archs.build(name, **FULL[name])
        wpath = getattr(args, f"weights_{name}")
        if wpath:
            weights.load(net, wpath)
        else:
            unit_gain_(net)
        base_opts = InferenceOptions(precision="fp32")
        fast_opts = InferenceOptions(precision=args.precision, channels_last=True)
        base = prepare_model(net, device, base_opts)
        with torch.inference_mode():
            ms0, y0 = timed(
                lambda m=base, o=base_opts: forward_tiled(m, x, 4, o), device, warmup, iters
            )
        fast = prepare_model(archs.build(name, **FULL[name]), device, fast_opts)
        fast.load_state_dict(base.state_dict())
        label = f"{args.precision}+channels_last"
        if args.compile:
            fast = torch.compile(fast)
            label += "+compile"
        with torch.inference_mode():
            ms1, y1 = timed(
                lambda m=fast, o=fast_opts: forward_tiled(m, x, 4, o), device, warmup, iters
            )
        o0, o1 = to_uint8(y0), to_uint8(y1)
        p0, p1 = psnr(o0, ref), psnr(o1, ref)
        refms = f"{REFERENCE_MS[name]:.0f}" if not args.quick else "-"
        print(
            f"{name:9} {'fp32':28} {ms0:9.2f} {1000 / ms0:7.2f} {1.0:8.2f} {p0:11.3f} "
            f"{0.0:7.3f} {'-':>12} {refms:>7}"
        )
        print(
            f"{name:9} {label:28} {ms1:9.2f} {1000 / ms1:7.2f} {ms0 / ms1:8.2f} {p1:11.3f} "
            f"{p1 - p0:7.3f} {psnr(o1, o0):12.2f} {refms:>7}"
        )
        ok = ms0 / ms1 >= 1.6 and abs(p1 - p0) <= 0.05
        print(
            f"{name:9} target >= 1.6x and |dPSNR| <= 0.05 dB: {'met' if ok else 'NOT met'}"
            + (
                " (CPU/quick run: speed target applies to the GPU)"
                if args.quick or device.type == "cpu"
                else ""
            )
        )


if __name__ == "__main__":
    main()
