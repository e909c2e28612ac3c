"""Validation of a Ranker: its output per validation patch and how well it ranks.

Outputs are computed with BatchNorm in eval mode (running statistics), on the index's full
patches. Summary (``summarise``): SROCC, KROCC and PLCC between output and label over all
validation patches; pair accuracy over the pairs of methods at the same position whose labels
differ (output order agrees with label order); mean output and mean label per method.

Table 5's E|R(SR1) - R(SR2)| (:func:`output_distance`): the mean absolute difference of the
Ranker's outputs on the SR1 (SRGAN) and SR2 (ESRGAN) patches of one validation position. A
regression Ranker's outputs live on the metric's scale (NIQE 2-15), a rank Ranker's on an
arbitrary one (clamped to +-5 in training), so raw distances do not compare. The paper does
not say how it made them comparable; the headline value (``e_sr1_sr2``) is taken after the
sigmoid of the rank-content loss, ``E|sigmoid(R(SR1)) - sigmoid(R(SR2))|``: that is the
quantity whose size decides how much the generator's loss can tell the two levels apart,
whatever the Ranker's scale, and it is the same transform for both kinds of Ranker. The raw
distance and the distance in units of the outputs' standard deviation over all validation
patches (scale-free, no sigmoid) are recorded beside it.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd
import torch
from torch import nn

from ranksrgan.fit.data import ImageCache
from ranksrgan.ranker.data import crop, to_chw
from ranksrgan.ranker.index import POSITION, RankIndex

EVAL_COLUMNS = [
    "dataset",
    "image",
    "x",
    "y",
    "size",
    "method",
    "level",
    "metric",
    "score",
    "label",
    "output",
]


@torch.no_grad()
def ranker_outputs(
    net: nn.Module,
    index: RankIndex,
    cache: ImageCache,
    device: torch.device,
    batch_size: int = 32,
) -> pd.DataFrame:
    """One row per validation patch with the Ranker's ``output`` (BN in eval mode)."""
    rows = index.split("val")
    was_training = net.training
    net.eval()
    outs: list[np.ndarray] = []
    for k in range(0, len(rows), batch_size):
        chunk = rows.iloc[k : k + batch_size]
        # patches of one chunk may differ in size only if the index mixes sizes: run singly then
        sizes = set(chunk["size"])
        groups = [chunk] if len(sizes) == 1 else [chunk.iloc[[i]] for i in range(len(chunk))]
        for g in groups:
            x = torch.stack(
                [
                    to_chw(crop(cache[int(r.file)], int(r.y), int(r.x), int(r.size)))
                    for r in g.itertuples()
                ]
            )
            x = x.to(device).float().div_(255.0)
            outs.append(net(x).float().reshape(-1).cpu().numpy())
    net.train(was_training)
    out = rows[EVAL_COLUMNS[:-1]].reset_index(drop=True).copy()
    out["output"] = np.concatenate(outs).astype(np.float64) if outs else np.zeros(0)
    return out


def _corr(kind: str, a: np.ndarray, b: np.ndarray) -> float:
    from scipy import stats

    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    fn = {"srocc": stats.spearmanr, "krocc": stats.kendalltau, "plcc": stats.pearsonr}[kind]
    return float(fn(a, b)[0])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def output_distance(ev: pd.DataFrame, sr1: str = "srgan", sr2: str = "esrgan") -> dict:
    """Table 5: mean |R(SR1) - R(SR2)| over the validation positions that hold both patches.

    ``sr1`` / ``sr2``: method names; when the index has not both, the two highest levels
    (below none) stand in. Returns the methods used, the number of positions, and the distance
    after the sigmoid (``e_sr1_sr2``), raw (``e_sr1_sr2_raw``) and in standard deviations of
    all finite outputs (``e_sr1_sr2_std``); NaN where there is no such position.
    """
    nan = {"sr1": sr1, "sr2": sr2, "n_sr1_sr2": 0, "e_sr1_sr2": math.nan,
           "e_sr1_sr2_raw": math.nan, "e_sr1_sr2_std": math.nan}
    if ev.empty:
        return nan
    ev = ev[np.isfinite(ev["output"].to_numpy(np.float64))]
    methods = set(ev["method"].astype(str))
    if not {sr1, sr2} <= methods:
        levels = ev.groupby("method")["level"].first().sort_values()
        if len(levels) < 2:
            return nan
        sr1, sr2 = (str(m) for m in levels.index[-2:])
    keys = [k for k in POSITION if k in ev.columns]
    w = ev.pivot_table(index=keys, columns="method", values="output", aggfunc="mean")
    pair = w[[sr1, sr2]].dropna()
    if pair.empty:
        return {**nan, "sr1": sr1, "sr2": sr2}
    a, b = pair[sr1].to_numpy(np.float64), pair[sr2].to_numpy(np.float64)
    spread = float(np.std(ev["output"].to_numpy(np.float64)))
    raw = float(np.mean(np.abs(a - b)))
    return {
        "sr1": sr1,
        "sr2": sr2,
        "n_sr1_sr2": len(pair),
        "e_sr1_sr2": float(np.mean(np.abs(_sigmoid(a) - _sigmoid(b)))),
        "e_sr1_sr2_raw": raw,
        "e_sr1_sr2_std": raw / spread if spread > 0 else math.nan,
    }


def summarise(ev: pd.DataFrame) -> dict:
    """SROCC, KROCC, PLCC, pair accuracy, per-method means and Table 5's output distance
    (:func:`output_distance`) of an ``eval`` table."""
    out, lab = ev["output"].to_numpy(np.float64), ev["label"].to_numpy(np.float64)
    agree = total = 0
    keys = [k for k in POSITION if k in ev.columns]
    for _, g in ev.groupby(keys, sort=False) if len(ev) else []:
        o, lb = g["output"].to_numpy(), g["label"].to_numpy()
        for i, j in combinations(range(len(g)), 2):
            if lb[i] == lb[j]:
                continue
            total += 1
            agree += int((o[i] - o[j]) * (lb[i] - lb[j]) > 0)
    per_method = (
        ev.groupby("method", sort=False)
        .agg(level=("level", "first"), output=("output", "mean"), label=("label", "mean"))
        .sort_values("level")
    )
    return {
        "n_patches": len(ev),
        "n_positions": int(ev.groupby(keys).ngroups) if len(ev) else 0,
        "n_pairs": total,
        "srocc": _corr("srocc", out, lab),
        "krocc": _corr("krocc", out, lab),
        "plcc": _corr("plcc", out, lab),
        "pair_accuracy": agree / total if total else math.nan,
        "mean_output": {str(m): float(r.output) for m, r in per_method.iterrows()},
        "mean_label": {str(m): float(r.label) for m, r in per_method.iterrows()},
        **output_distance(ev),
    }
