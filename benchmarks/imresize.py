"""Speed and agreement of ``ranksrgan.imresize`` (numpy) against pyiqa's MATLAB-like resize.

Usage: PYTHONPATH=src python3 benchmarks/imresize.py [--device cpu|cuda] [--repeats N]
Input: a 2040x1356 (DIV2K-sized) RGB image tiled from scikit-image photos, resized x1/4.
Prints seconds per call for ours (uint8 as imresizemex, and the im2double path the data stage
uses) and for pyiqa's torch implementation on --device, their ratio, and the max |difference|
on [0, 1] float input. pyiqa is optional: skipped (and said so) when it cannot be imported.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import skimage.data

from ranksrgan.imresize import imresize, imresize_im2double


def _photo(h: int, w: int) -> np.ndarray:
    src = skimage.data.astronaut()
    big = np.tile(src, (-(-h // src.shape[0]), -(-w // src.shape[1]), 1))
    return np.ascontiguousarray(big[:h, :w])


def _best(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    img = _photo(1356, 2040)
    t_u8 = _best(lambda: imresize(img, 0.25), args.repeats)
    t_dbl = _best(lambda: imresize_im2double(img, 0.25), args.repeats)
    print(f"input {img.shape} uint8 -> x1/4 {imresize(img, 0.25).shape}")
    print(f"ours uint8 (imresizemex rounding): {t_u8:.3f} s")
    print(f"ours im2double path (data stage):  {t_dbl:.3f} s")
    d = np.abs(imresize_im2double(img, 0.25).astype(int) - imresize(img, 0.25).astype(int))
    print(f"uint8 vs im2double path: max {d.max()} grey level, {100 * (d > 0).mean():.2f}% px")

    try:
        import torch
        from pyiqa.matlab_utils import imresize as pyiqa_resize
    except Exception as exc:  # noqa: BLE001 - any import failure means "skip"
        print(f"pyiqa comparison skipped ({type(exc).__name__}: {exc})")
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        print("pyiqa comparison skipped (--device cuda but CUDA is not available)")
        return
    x = img.astype(np.float64) / 255.0
    t = torch.from_numpy(x).permute(2, 0, 1)[None].float().to(args.device)

    def run_pyiqa():
        out = pyiqa_resize(t, scale=0.25, antialiasing=True)
        if args.device == "cuda":
            torch.cuda.synchronize()
        return out

    t_py = _best(run_pyiqa, args.repeats)
    theirs = run_pyiqa()[0].permute(1, 2, 0).double().cpu().numpy()
    ours = imresize(x, 0.25)
    print(f"pyiqa float32 on {args.device}:          {t_py:.3f} s  "
          f"(ours uint8 / pyiqa = {t_u8 / t_py:.2f}x the time)")
    print(f"max |ours - pyiqa| on [0,1] float input: {np.abs(ours - theirs).max():.2e}")


if __name__ == "__main__":
    main()
