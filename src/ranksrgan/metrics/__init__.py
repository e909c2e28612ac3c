"""Perceptual and distortion (PSNR / SSIM) metrics under the PIRM-SR protocol, by name.

``create_metric(name, device, **options)`` returns a callable: no-reference metrics take an RGB
batch N x 3 x H x W in [0, 1] and return N scores (float64, on the CPU); full-reference ones
take ``(x, ref)``. Own implementations: ``niqe``, ``ma`` (NRQM), ``pi``, ``psnr``, ``ssim``.
Any other name goes to ``pyiqa.create_metric`` and is wrapped to the same interface.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import torch

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.contracts import STAND_IN, stand_in_note
from ranksrgan.metric_version import METRICS_VERSION as VERSION

__all__ = ["Metric", "create_metric", "OWN_METRICS"]

OWN_METRICS = ("niqe", "ma", "pi", "psnr", "ssim")


class Metric:
    """A named metric with its protocol settings; call it like the wrapped function."""

    def __init__(
        self,
        name: str,
        fn: Callable[..., torch.Tensor],
        *,
        lower_better: bool,
        full_reference: bool,
        params: dict[str, Any],
        device: torch.device,
        min_size: int = 1,
    ):
        self.name = name
        self._fn = fn
        self.lower_better = lower_better
        self.full_reference = full_reference
        self.params = dict(params)
        self.device = device
        self.min_size = min_size  # smallest accepted image side, before shaving
        blob = json.dumps(
            {"name": name, "version": VERSION, **self.params}, sort_keys=True, default=str
        )
        self.params_hash = hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def stand_in(self) -> str:
        """Why the scores are a stand-in (``params["stand_in"]``, e.g. the synthetic NRQM
        model: never a real score); ``""`` for a real metric (``ranksrgan.io.contracts``)."""
        return stand_in_note([self.params.get(STAND_IN)])

    def __call__(self, x: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"{self.name}: expected RGB N x 3 x H x W, got {tuple(x.shape)}")
        x = x.to(self.device)
        with torch.no_grad():
            if self.full_reference:
                if ref is None:
                    raise ValueError(f"{self.name} is full-reference: pass (x, ref)")
                out = self._fn(x, ref.to(self.device))
            else:
                out = self._fn(x)
        return out.detach().reshape(-1).to("cpu", torch.float64)

    def __repr__(self) -> str:
        return f"Metric({self.name!r}, params={self.params})"


def _device(device: str | torch.device) -> torch.device:
    from ranksrgan.io.device import pick_device

    return pick_device(device)


def _check_options(name: str, options: dict, allowed: set[str]) -> None:
    extra = sorted(set(options) - allowed)
    if extra:
        raise RankSRGANError(f"metric {name}: unknown option(s) {extra}; allowed {sorted(allowed)}")


def create_metric(name: str, device: str | torch.device = "cpu", **options: Any) -> Metric:
    """Create a metric by name (see module docstring); options are the protocol settings.

    niqe: ``colour`` ('y' | 'gray', default 'y'), ``shave`` (4), ``block`` (96),
    ``quantize`` (True), ``params_path`` (None = vendored LIVE parameters).
    ma / pi: ``colour``, ``shave``, ``quantize`` and ``model_path`` (NRQM_model.mat);
    pi also the niqe options ``block``/``params_path``.
    psnr / ssim: ``colour`` ('y'), ``shave`` (4), ``quantize`` (True).
    """
    dev = _device(device)
    key = name.lower()
    if key == "niqe":
        from ranksrgan.metrics.niqe_metric import build_niqe

        _check_options(key, options, {"colour", "shave", "block", "quantize", "params_path"})
        return build_niqe(dev, **options)
    if key in ("ma", "nrqm", "pi"):
        from ranksrgan.metrics.nrqm import build_ma, build_pi

        allowed = {"colour", "shave", "quantize", "model_path"}
        if key == "pi":
            _check_options(key, options, allowed | {"block", "params_path"})
            return build_pi(dev, **options)
        _check_options(key, options, allowed)
        return build_ma(dev, **options)
    if key in ("psnr", "ssim"):
        from ranksrgan.metrics import distortion

        _check_options(key, options, {"colour", "shave", "quantize"})
        colour = options.get("colour", "y")
        shave_px = int(options.get("shave", 4))
        quantize = bool(options.get("quantize", True))
        fn = distortion.psnr if key == "psnr" else distortion.ssim

        def run(x, ref):
            return fn(x, ref, colour=colour, shave_px=shave_px, quantize=quantize)

        params = {"colour": colour, "shave": shave_px, "quantize": quantize}
        return Metric(
            key,
            run,
            lower_better=False,
            full_reference=True,
            params=params,
            device=dev,
            min_size=2 * shave_px + (11 if key == "ssim" else 1),
        )
    return _pyiqa_metric(name, dev, options)


def _pyiqa_metric(name: str, dev: torch.device, options: dict) -> Metric:
    try:
        import pyiqa
    except ImportError:
        raise RankSRGANError(
            f"metric {name!r} is not built in and pyiqa is not installed"
        ) from None
    if name not in pyiqa.list_models():
        raise RankSRGANError(f"unknown metric {name!r} (not built in, not a pyiqa metric)")
    m = pyiqa.create_metric(name, device=dev, **options)
    fr = getattr(m, "metric_mode", "NR") == "FR"

    def run(x, ref=None):
        return m(x, ref) if fr else m(x)

    params = {"backend": f"pyiqa {getattr(pyiqa, '__version__', '?')}", **options}
    return Metric(
        name, run, lower_better=bool(m.lower_better), full_reference=fr, params=params, device=dev
    )
