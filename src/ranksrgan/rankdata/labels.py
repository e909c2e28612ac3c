"""Patch labels under the authors' label protocol, computed in batches.

``generate_train_ranklabel.m`` / ``parcal_niqe.m`` score every patch file with NIQE on the
Y channel of MATLAB ``rgb2ycbcr`` (uint8), a 4-px border shaved, 96-px blocks. Ma and PI
labels (Table 4) use the same luma and shave. ``label`` orients the score so that lower is
better for every metric (NIQE and PI as they are, Ma negated), which is the direction the
Ranker learns (lower Ranker output = better).
"""

from __future__ import annotations

import numpy as np
import torch

from ranksrgan.errors import RankSRGANError
from ranksrgan.metrics import Metric, create_metric

LABEL_METRICS = ("niqe", "ma", "pi")
LABEL_COLOUR = "y"
LABEL_SHAVE = 4


def label_metric(
    name: str, device: torch.device | str = "cpu", nrqm_model: str | None = None
) -> Metric:
    """The label metric ``name`` (niqe | ma | pi) under the label protocol."""
    if name not in LABEL_METRICS:
        raise RankSRGANError(f"label metric {name!r}: must be one of {', '.join(LABEL_METRICS)}")
    opts: dict = {"colour": LABEL_COLOUR, "shave": LABEL_SHAVE, "quantize": True}
    if name in ("ma", "pi"):
        if not nrqm_model:
            raise RankSRGANError(f"label metric {name} needs --nrqm-model (NRQM_model.mat)")
        opts["model_path"] = str(nrqm_model)
    return create_metric(name, device, **opts)


def orient(scores: np.ndarray | torch.Tensor, lower_better: bool) -> np.ndarray:
    """Labels from scores: lower = better whatever the metric (higher-better ones negated)."""
    s = np.asarray(scores, dtype=np.float64)
    return s.copy() if lower_better else -s
