"""Speed and agreement of our NIQE / Ma / PI against pyiqa on the same inputs.

Usage: PYTHONPATH=src python3 benchmarks/metrics.py [--device cpu|cuda] [--quick]
Prints ms per call, the speed-up (pyiqa time / ours) and the max |ours - pyiqa|.
Ma/PI use a SYNTHETIC NRQM model of the real structure (scores meaningless, timings real).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage.data
import torch

REPO = Path(__file__).resolve().parents[1]


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    """A real-photo image of h x w (tiles of scikit-image photos, reflected to size)."""
    src = [skimage.data.coffee(), skimage.data.chelsea(), skimage.data.astronaut()][seed % 3]
    reps = (-(-h // src.shape[0]), -(-w // src.shape[1]), 1)
    big = np.tile(src, reps)
    return np.ascontiguousarray(big[:h, :w])


def _patches(n: int, size: int = 296) -> list[np.ndarray]:
    """n distinct size x size crops (random offsets and flips) of three scikit-image photos."""
    srcs = [skimage.data.coffee(), skimage.data.chelsea(), skimage.data.astronaut()]
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        src = srcs[i % 3]
        r = rng.integers(0, src.shape[0] - size + 1)
        c = rng.integers(0, src.shape[1] - size + 1)
        crop = src[r : r + size, c : c + size]
        out.append(np.ascontiguousarray(crop[:, ::-1] if rng.integers(2) else crop))
    return out


def _snapped(x: torch.Tensor) -> torch.Tensor:
    """Per image: does NIQE snap any MSCN residual to 0 (flat or locally linear regions)?

    There the residual is rounding noise: we snap it to 0 (same result on any device and
    order), MATLAB and pyiqa keep whatever their summation order gives, so scores may differ.
    """
    from ranksrgan.metrics.colour import rgb_to_luma, shave
    from ranksrgan.metrics.niqe import snapped_pixels

    return snapped_pixels(shave(rgb_to_luma(x.cpu()), 4)) > 0


def _diff_summary(label: str, ours: torch.Tensor, ref: torch.Tensor, snapped) -> str:
    diffs = (ours.cpu() - ref.detach().cpu().double().reshape(-1)).abs()
    text = f"{label}: max|diff| {diffs.max().item():.2e}, median {diffs.median().item():.2e}"
    if snapped is not None and snapped.any():
        rest = f"{diffs[~snapped].max().item():.2e}" if (~snapped).any() else "n/a"
        text += f"; {int(snapped.sum())}/{len(snapped)} with snapped residuals, others max {rest}"
    return text


def _batch(imgs, device):
    return (torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).double() / 255).to(device)


def _time(fn, reps: int, sync) -> tuple[float, torch.Tensor]:
    """Best of ``reps`` timed calls after one warm-up call (least disturbed by other load)."""
    out = fn()
    sync()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        sync()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and smaller batch")
    args = ap.parse_args()
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    from ranksrgan.metrics.pyiqa_reference import use_offline_pyiqa_home

    home = use_offline_pyiqa_home(tempfile.mkdtemp())
    from ranksrgan.metrics import create_metric
    from ranksrgan.metrics.pyiqa_reference import pyiqa_niqe_in_double
    from ranksrgan.metrics.synthetic import write_synthetic_nrqm

    try:
        import pyiqa
    except ImportError:
        pyiqa = None
        print("pyiqa not installed: pyiqa comparison SKIPPED (our timings only)")
    reps = 1 if args.quick else 3
    batch = 8 if args.quick else 64
    print(f"device {dev}, torch {torch.__version__}, threads {torch.get_num_threads()}")

    niqe = create_metric("niqe", dev)
    p_niqe = (
        pyiqa.create_metric("niqe", device=dev, color_space="ycbcr", crop_border=4)
        if pyiqa
        else None
    )
    cases = [
        ("NIQE 296x296 patch, batch 1", _patches(1), reps * 3),
        (f"NIQE 296x296 patch, batch {batch}", _patches(batch), reps),
        ("NIQE 2040x1356 image", [_photo(1356, 2040, 1)], reps),
    ]
    for label, imgs, r in cases:
        x = _batch([np.ascontiguousarray(i) for i in imgs], dev)
        t_ours, ours = _time(lambda x=x: niqe(x), r, sync)
        per = len(imgs)
        line = f"{label}: ours {1000 * t_ours / per:.1f} ms/image"
        if p_niqe is not None:
            t_ref, ref = _time(lambda x=x: p_niqe(x.float()), r, sync)
            line += f", pyiqa {1000 * t_ref / per:.1f} ms/image, speed-up {t_ref / t_ours:.1f}x"
            snapped = _snapped(x)
            line += "\n    " + _diff_summary("vs pyiqa", ours, ref, snapped)
            with pyiqa_niqe_in_double():
                ref64 = p_niqe(x)
            line += "\n    " + _diff_summary("vs pyiqa-double", ours, ref64, snapped)
        print(line, flush=True)

    model = home / "NRQM_model_SYNTHETIC.mat"
    write_synthetic_nrqm(model, seed=0, n_trees=2000)
    x = _batch([_photo(339, 510, 0)], dev)
    for name in ("ma", "pi"):
        # pyiqa's to_y_channel rounds Y in the 255 range, as our quantize=True (PIRM) does.
        m = create_metric(name, dev, model_path=str(model), quantize=True)
        t_ours, ours = _time(lambda m=m: m(x), reps, sync)
        line = f"{name.upper()} 510x339 image (SYNTHETIC model): ours {t_ours:.2f} s"
        if pyiqa is not None:
            kind = "nrqm" if name == "ma" else "pi"
            opts = {"pretrained_model_path": str(model), "crop_border": 4, "color_space": "ycbcr"}
            try:
                if name == "ma":
                    pm = pyiqa.create_metric(kind, device=dev, **opts)
                    fn = lambda pm=pm: pm(x.float())  # noqa: E731
                else:  # pyiqa's PI builds NRQM from the default URL: assemble it on our file
                    pn = pyiqa.create_metric("nrqm", device=dev, **opts)
                    fn = lambda pn=pn: (10 - pn(x.float()) + p_niqe(x.float())) / 2  # noqa: E731
                t_ref, ref = _time(fn, 1, sync)
                diff = abs(ours.item() - float(ref))
                line += f", pyiqa {t_ref:.2f} s, speed-up {t_ref / t_ours:.1f}x, |diff| {diff:.2e}"
            except Exception as exc:  # noqa: BLE001
                line += f", pyiqa failed: {exc}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
