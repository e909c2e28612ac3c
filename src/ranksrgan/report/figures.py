"""The report's figures (matplotlib, Agg backend), each written as PNG and PDF atomically.

Every function takes plain DataFrames and an output stem (``.../fig6_convergence``) and returns
the written paths, or ``[]`` when its inputs were not run (the page then says so). Stand-in
data are labelled in the figure itself, not only on the page.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on compute nodes; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from ranksrgan.errors import RankSRGANError  # noqa: E402
from ranksrgan.io import atomic_path  # noqa: E402
from ranksrgan.io.contracts import stand_in_mask  # noqa: E402

STAND_IN_MARK = "STAND-IN DATA"


def _t(s: object) -> str:
    """A name as figure text: matplotlib reads a pair of ``$`` as mathtext (and fails on a
    name like ``a$^$b``); an escaped ``\\$`` prints a plain dollar."""
    return str(s).replace("$", r"\$")


def _save(fig, stem: str | os.PathLike) -> list[Path]:
    stem = Path(stem)
    paths = []
    for ext in ("png", "pdf"):
        p = stem.with_suffix(f".{ext}")
        # fixed metadata: the same inputs give the same PDF bytes (no creation date)
        meta = {"CreationDate": None} if ext == "pdf" else {"Software": None}
        with atomic_path(p) as tmp:
            fig.savefig(tmp, format=ext, dpi=110, bbox_inches="tight", metadata=meta)
        paths.append(p)
    plt.close(fig)
    return paths


def _stand_in_title(fig, stand_in: bool, title: str) -> None:
    fig.suptitle(f"{title}\n[{STAND_IN_MARK}]" if stand_in else title, fontsize=10,
                 color="#a00" if stand_in else "black")


def convergence(
    curves: pd.DataFrame,
    presets: Mapping[str, str],
    stem: str | os.PathLike,
    title: str = "Convergence on the validation set (paper Fig. 6)",
) -> list[Path]:
    """Mean validation PSNR and NIQE over iterations, one line per labelled preset (the
    paper's Fig. 6; the supplement's Fig. 1 with the presets behind RankSRGAN-R-D1/-D2)."""
    lines = {lab: curves[curves["preset"] == p] for lab, p in presets.items()}
    lines = {lab: g for lab, g in lines.items() if not g.empty}
    if not lines:
        return []
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    stand_in = False
    for lab, g in lines.items():
        m = g.groupby("iteration")[["psnr", "niqe"]].mean()
        stand_in |= bool(stand_in_mask(g).any())
        for ax, col in zip(axes, ("psnr", "niqe"), strict=True):
            ax.plot(m.index, m[col], marker="o", ms=3, label=_t(lab))
    for ax, name in zip(axes, ("PSNR (dB)", "NIQE"), strict=True):
        ax.set_xlabel("iteration")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _stand_in_title(fig, stand_in, title)
    return _save(fig, stem)


@dataclass
class Crop:
    """One panel of the crop grid: a method's image and its whole-image scores."""

    label: str
    path: str
    niqe: float = float("nan")
    psnr: float = float("nan")
    stand_in: bool = False


def crop_grid(
    crops: Sequence[Crop], box: tuple[int, int, int], stem: str | os.PathLike, title: str
) -> list[Path]:
    """Fig. 5: the same ``box`` = (top, left, size) of every method's image, NIQE/PSNR below."""
    if not crops:
        return []
    top, left, size = box
    fig, axes = plt.subplots(1, len(crops), figsize=(1.9 * len(crops), 2.4), squeeze=False)
    for ax, c in zip(axes[0], crops, strict=True):
        try:
            with Image.open(c.path) as im:
                arr = np.asarray(im.convert("RGB"))
        except (OSError, ValueError) as exc:
            raise RankSRGANError(f"{c.path}: cannot read image for the crop grid ({exc})") from None
        ax.imshow(arr[top : top + size, left : left + size], interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(_t(c.label) + ("\u2020" if c.stand_in else ""), fontsize=8)
        niqe = "-" if np.isnan(c.niqe) else f"{c.niqe:.2f}"
        psnr = "-" if np.isnan(c.psnr) else f"{c.psnr:.2f}"
        ax.set_xlabel(f"NIQE/PSNR\n{niqe}/{psnr}", fontsize=8)
    _stand_in_title(fig, any(c.stand_in for c in crops), _t(title))
    return _save(fig, stem)


def ranker_scatter(
    evals: pd.DataFrame, summary: pd.DataFrame, stem: str | os.PathLike
) -> list[Path]:
    """Ranker output vs label per Ranker, SROCC in each panel's title (supplement)."""
    if evals.empty:
        return []
    names = list(dict.fromkeys(evals["name"]))
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.2), squeeze=False)
    stand_in = bool(stand_in_mask(summary).any())
    for ax, name in zip(axes[0], names, strict=True):
        g = evals[evals["name"] == name]
        for method, gm in g.groupby("method", sort=True):
            ax.scatter(gm["label"], gm["output"], s=8, alpha=0.6,
                       label=_t(method) if method else "patches")
        s = summary.loc[summary["name"] == name, "srocc"]
        srocc = f"{s.iloc[0]:.3f}" if len(s) and pd.notna(s.iloc[0]) else "n/a"
        ax.set_title(f"Ranker {_t(name)}: SROCC {srocc}", fontsize=9)
        ax.set_xlabel("label (metric score)")
        ax.set_ylabel("Ranker output")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    _stand_in_title(fig, stand_in, "Ranker output vs label (validation patches)")
    return _save(fig, stem)


def score_distributions(scores: pd.DataFrame, stem: str | os.PathLike) -> list[Path]:
    """Per-image score distributions: one panel per dataset x metric, one box per method."""
    ok = scores[scores["error"].fillna("") == ""] if not scores.empty else scores
    if ok.empty:
        return []
    datasets = sorted(ok["dataset"].unique())
    metrics = [m for m in ("niqe", "ma", "pi", "psnr", "ssim") if m in set(ok["metric"])]
    metrics += sorted(set(ok["metric"]) - set(metrics))
    fig, axes = plt.subplots(
        len(datasets), len(metrics), figsize=(2.9 * len(metrics), 2.6 * len(datasets)),
        squeeze=False,
    )
    for i, ds in enumerate(datasets):
        for j, metric in enumerate(metrics):
            ax = axes[i][j]
            g = ok[(ok["dataset"] == ds) & (ok["metric"] == metric)]
            methods = list(dict.fromkeys(g["method"]))
            # HR's PSNR against itself is inf: a box cannot show it
            data = [v[np.isfinite(v)] for v in
                    (g.loc[g["method"] == m, "value"].to_numpy(float) for m in methods)]
            if data:
                ax.boxplot(data, showmeans=True)
                ax.set_xticks(range(1, len(methods) + 1), [_t(m) for m in methods],
                              rotation=45, fontsize=7)
            ax.set_title(_t(f"{ds}: {metric}"), fontsize=8)
            ax.grid(alpha=0.3)
    _stand_in_title(fig, bool(stand_in_mask(ok).any()), "Per-image scores by method")
    fig.tight_layout()
    return _save(fig, stem)


def rankdata_stats(index: pd.DataFrame, stem: str | os.PathLike) -> list[Path]:
    """Rank dataset: label-score histogram per method and positions per split."""
    if index.empty:
        return []
    names = list(dict.fromkeys(index["name"]))
    fig, axes = plt.subplots(len(names), 2, figsize=(8, 3 * len(names)), squeeze=False)
    for i, name in enumerate(names):
        g = index[index["name"] == name]
        ax = axes[i][0]
        for method, gm in g.groupby("method", sort=False):
            ax.hist(gm["score"].dropna(), bins=20, alpha=0.5, label=_t(method))
        ax.set_title(f"{_t(name)}: label scores", fontsize=9)
        ax.set_xlabel(_t(g["metric"].iloc[0]) if "metric" in g.columns else "score")
        ax.legend(fontsize=7)
        ax = axes[i][1]
        split = g["split"] if "split" in g.columns else pd.Series("all", index=g.index)
        counts = g.assign(split=split).groupby(["split", "method"]).size().unstack(fill_value=0)
        counts.plot.bar(ax=ax, rot=0)
        ax.set_title(f"{_t(name)}: patches per split and method", fontsize=9)
        ax.legend(fontsize=7)
    _stand_in_title(fig, bool(stand_in_mask(index).any()), "Rank dataset statistics")
    fig.tight_layout()
    return _save(fig, stem)


def pd_plane(summary: pd.DataFrame, stem: str | os.PathLike) -> list[Path]:
    """Perception-distortion plane as PIRM plots it: mean PI (y) vs mean RMSE (x) per method."""
    if summary.empty:
        return []
    w = summary.pivot_table(index=["dataset", "method"], columns="metric", values="value")
    if not {"pi", "rmse"} <= set(w.columns):
        return []
    w = w.dropna(subset=["pi", "rmse"])
    if w.empty:
        return []
    datasets = sorted(w.index.get_level_values(0).unique())
    fig, axes = plt.subplots(1, len(datasets), figsize=(4 * len(datasets), 3.5), squeeze=False)
    pr = summary[summary["metric"].isin(["pi", "rmse"])]
    stand = pr.assign(stand_in=stand_in_mask(pr)).groupby(["dataset", "method"])["stand_in"].any()
    for ax, ds in zip(axes[0], datasets, strict=True):
        g = w.loc[ds]
        ax.scatter(g["rmse"], g["pi"])
        for method, r in g.iterrows():
            mark = "\u2020" if stand.get((ds, method), False) else ""
            ax.annotate(f"{_t(method)}{mark}", (r["rmse"], r["pi"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel("RMSE (Y, from per-image PSNR)")
        ax.set_ylabel("PI (lower = better perceived)")
        ax.set_title(_t(ds), fontsize=9)
        ax.grid(alpha=0.3)
    _stand_in_title(fig, bool(stand.any()), "Perception-distortion plane")
    return _save(fig, stem)


def ranker_histograms(
    evals: pd.DataFrame,
    regression: str,
    rank: str,
    metric: str,
    stem: str | os.PathLike,
    methods: Sequence[str] = ("srgan", "esrgan"),
    title: str = "",
) -> list[Path]:
    """The supplement's Figs. 3 / 4: histograms per SR method of (a) the label value, (b) the
    ``regression`` Ranker's output and (c) the ``rank`` Ranker's output on the validation
    patches of ``methods`` (each Ranker's ``eval.parquet`` rows, finite values only).

    The label is the patch's metric score (``score``; ``label`` when the evaluation has no
    score column), from the rank Ranker's evaluation. ``[]`` when either Ranker has no
    finite patch of one of ``methods`` (the page says why).
    """
    panels = []
    for name, col, what in ((rank, "label", f"(a) {metric} label value"),
                            (regression, "output", f"(b) regression Ranker ({regression})"),
                            (rank, "output", f"(c) rank Ranker ({rank})")):
        g = evals[evals["name"] == name]
        if col == "label" and "score" in g.columns and g["score"].notna().any():
            col = "score"
        per = {}
        for m in methods:
            v = pd.to_numeric(g.loc[g["method"] == m, col], errors="coerce").to_numpy(float)
            per[m] = v[np.isfinite(v)]
        if any(len(v) == 0 for v in per.values()):
            return []
        panels.append((what, per, bool(stand_in_mask(g).any())))
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for ax, (what, per, _) in zip(axes, panels, strict=True):
        lo = min(float(v.min()) for v in per.values())
        hi = max(float(v.max()) for v in per.values())
        bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 21)
        for m, v in per.items():
            ax.hist(v, bins=bins, alpha=0.55, label=f"{_t(m)} (n={len(v)})")
        ax.set_title(_t(what), fontsize=9)
        ax.set_ylabel("patches")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    _stand_in_title(fig, any(si for *_, si in panels),
                    title or f"{metric} label and Ranker outputs on validation patches")
    fig.tight_layout()
    return _save(fig, stem)

