"""The report's "miniature study" section: SRGAN vs RankSRGAN per seed on held-out photos.

The paper's claim (Sec. 3-4): a Ranker learned from a metric's orderings makes a GAN better on
that metric at about equal distortion. ``config/mini.yaml`` trains, per seed, an SRGAN and a
RankSRGAN from the same initial SRResNet, seed, data and iteration count; the report section
(``report.mini_study`` in the config) shows:

- :func:`per_seed`: each seed's mean score of both arms on the held-out dataset and the
  difference ``RankSRGAN - SRGAN`` (and whether it favours RankSRGAN for that metric);
- :func:`aggregate`: per metric, both arms' mean over seeds, the difference's mean, standard
  deviation (ddof 1), min and max, and in how many seeds RankSRGAN was better;
- :func:`ranker_line`: the study Ranker's SROCC on the images its own training held out.

Pure functions of DataFrames (the score summary of ``tables.score_summary``, the Ranker
summary of ``tables.ranker_summary``): no file access, no formatting beyond rounding in
:func:`display`. Whatever the outcome, the numbers are shown as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ranksrgan.io.contracts import stand_in_mask
from ranksrgan.report.page import SectionEntry, _df_html, _df_md, _e
from ranksrgan.report.render import md_escape

# Lower is better for these metrics; higher for the others (PSNR, SSIM).
LOWER_BETTER = frozenset({"niqe", "pi", "10-ma", "rmse"})
PER_SEED_COLUMNS = ["seed", "metric", "srgan_method", "ranksrgan_method", "srgan", "ranksrgan",
                    "diff", "ranksrgan_better", "n_images", "stand_in"]
AGGREGATE_COLUMNS = ["metric", "lower_is_better", "seeds", "srgan_mean", "ranksrgan_mean",
                     "diff_mean", "diff_std", "diff_min", "diff_max", "ranksrgan_better_seeds"]


@dataclass(frozen=True)
class SeedPair:
    """Both arms of one seed: the SR methods whose scores are compared."""

    seed: int
    srgan: str
    ranksrgan: str


@dataclass
class MiniStudy:
    """Plain settings of the section (the config's ``report.mini_study``)."""

    dataset: str
    metrics: list[str]
    seeds: list[SeedPair]
    ranker: str | None = None
    stand_ins: str = ""

    @classmethod
    def from_mapping(cls, d: Mapping) -> MiniStudy:
        """From the config section (already schema-checked)."""
        return cls(
            dataset=str(d["dataset"]),
            metrics=[str(m) for m in d["metrics"]],
            seeds=[SeedPair(int(s["seed"]), str(s["srgan"]), str(s["ranksrgan"]))
                   for s in d["seeds"]],
            ranker=d.get("ranker"),
            stand_ins=str(d.get("stand_ins") or ""),
        )


def _better(metric: str, diff: float) -> bool | None:
    """Whether a difference RankSRGAN - SRGAN favours RankSRGAN (None: NaN or a tie)."""
    if not np.isfinite(diff) or diff == 0:
        return None
    return diff < 0 if metric in LOWER_BETTER else diff > 0


def per_seed(
    summary: pd.DataFrame, study: MiniStudy
) -> pd.DataFrame:
    """One row per seed x metric: both arms' mean on ``study.dataset`` and their difference.

    ``summary``: ``tables.score_summary`` output (dataset, method, metric, value, n,
    stand_in note). An arm without scores gives NaN (never a made-up value); ``stand_in``
    is True when either arm's value is a stand-in.
    """
    here = summary[summary["dataset"] == study.dataset] if not summary.empty else summary
    rows = []
    for pair in study.seeds:
        for metric in study.metrics:
            vals, ns, si = {}, [], False
            for arm in ("srgan", "ranksrgan"):
                method = getattr(pair, arm)
                r = here[(here["method"] == method) & (here["metric"] == metric)]
                vals[arm] = float(r["value"].iloc[0]) if len(r) else np.nan
                ns.append(int(r["n"].iloc[0]) if len(r) else 0)
                si = si or bool(stand_in_mask(r).any())
            diff = vals["ranksrgan"] - vals["srgan"]
            rows.append({
                "seed": pair.seed, "metric": metric, "srgan_method": pair.srgan,
                "ranksrgan_method": pair.ranksrgan, "srgan": vals["srgan"],
                "ranksrgan": vals["ranksrgan"], "diff": diff,
                "ranksrgan_better": _better(metric, diff), "n_images": min(ns),
                "stand_in": si,
            })
    return pd.DataFrame(rows, columns=PER_SEED_COLUMNS)


def aggregate(seeds: pd.DataFrame) -> pd.DataFrame:
    """Per metric over the seeds with both arms scored: means, and the difference's mean,
    std (ddof 1; NaN for one seed), min, max and "k/n" seeds in which RankSRGAN was better."""
    rows = []
    for metric, g in seeds.groupby("metric", sort=False):
        ok = g.dropna(subset=["diff"])
        d = ok["diff"].astype(float)
        rows.append({
            "metric": metric,
            "lower_is_better": metric in LOWER_BETTER,
            "seeds": len(ok),
            "srgan_mean": float(ok["srgan"].mean()) if len(ok) else np.nan,
            "ranksrgan_mean": float(ok["ranksrgan"].mean()) if len(ok) else np.nan,
            "diff_mean": float(d.mean()) if len(d) else np.nan,
            "diff_std": float(d.std(ddof=1)) if len(d) > 1 else np.nan,
            "diff_min": float(d.min()) if len(d) else np.nan,
            "diff_max": float(d.max()) if len(d) else np.nan,
            "ranksrgan_better_seeds": f"{sum(b is True for b in ok['ranksrgan_better'])}/{len(ok)}",
        })
    return pd.DataFrame(rows, columns=AGGREGATE_COLUMNS)


def ranker_line(ranker_summary: pd.DataFrame, evals: pd.DataFrame, name: str | None) -> str:
    """One sentence on the study Ranker's SROCC over its held-out validation patches."""
    if not name:
        return "No Ranker named for the study."
    r = ranker_summary[ranker_summary["name"] == name] if not ranker_summary.empty else None
    if r is None or r.empty:
        return f"Ranker {name}: not run (no evaluation in this run)."
    row = r.iloc[0]
    if int(row.get("n_patches", row["n"])) == 0:  # it ran, but had nothing to measure
        return f"Ranker {name}: not measured (no validation patches in its evaluation)."
    g = evals[evals["name"] == name] if "name" in evals.columns else evals
    images = int(g["image"].nunique()) if "image" in g.columns else 0
    where = f" of {images} image(s)" if images else ""
    return (f"Ranker {name}: SROCC {row['srocc']:.3f} between its output and the metric's "
            f"label on {int(row['n'])} validation patches{where} held out from its training "
            "(rank-dataset split by image; the GAN arms' test photos are never in it).")


def verdict(agg: pd.DataFrame) -> str:
    """A plain sentence per metric: mean difference +- std and the seeds' count."""
    parts = []
    for r in agg.itertuples(index=False):
        if not r.seeds:
            parts.append(f"{r.metric.upper()}: not run")
            continue
        std = "" if not np.isfinite(r.diff_std) else f" +- {r.diff_std:.3f}"
        side = "lower" if r.lower_is_better else "higher"
        parts.append(f"{r.metric.upper()} RankSRGAN - SRGAN = {r.diff_mean:+.3f}{std} "
                     f"({side} is better; RankSRGAN better in {r.ranksrgan_better_seeds} seeds)")
    return "; ".join(parts) + "."


def display(seeds: pd.DataFrame, agg: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two tables as the page shows them (rounded, readable column names)."""
    s = seeds.copy()
    s["ranksrgan_better"] = s["ranksrgan_better"].map({True: "yes", False: "no"}).fillna("-")
    s = s.rename(columns={"srgan": "SRGAN", "ranksrgan": "RankSRGAN",
                          "diff": "RankSRGAN - SRGAN", "ranksrgan_better": "RankSRGAN better"})
    a = agg.rename(columns={"diff_mean": "diff mean", "diff_std": "diff std",
                            "diff_min": "diff min", "diff_max": "diff max",
                            "ranksrgan_better_seeds": "RankSRGAN better (seeds)"})
    return s.round(4), a.round(4)


def build_tables(
    summary: pd.DataFrame,
    ranker_summary: pd.DataFrame,
    evals: pd.DataFrame,
    study: MiniStudy,
) -> dict[str, Any]:
    """Everything the page's section needs: per-seed and aggregate tables and two sentences."""
    seeds = per_seed(summary, study)
    agg = aggregate(seeds)
    return {"per_seed": seeds, "aggregate": agg, "verdict": verdict(agg),
            "ranker": ranker_line(ranker_summary, evals, study.ranker)}


def markdown_table(df: pd.DataFrame) -> str:
    """A Markdown table of one of :func:`build_tables`' frames (values rounded to 4 places)."""
    return _df_md(df.round(4))


def section(result: Mapping[str, object], study: MiniStudy,
            files: Mapping[str, str]) -> SectionEntry:
    """The page section (HTML and Markdown) from :func:`build_tables`' result.

    ``files``: label -> path relative to the page of the tables written as CSV / Markdown.
    """
    seeds, agg = display(result["per_seed"], result["aggregate"])
    pairs = ", ".join(f"seed {p.seed}: {p.srgan} vs {p.ranksrgan}" for p in study.seeds)
    intro = (f"The paper's claim at small scale: per seed, SRGAN and RankSRGAN trained from the "
             f"same SRResNet, seed, data and iteration count ({pairs}), scored on the held-out "
             f"dataset {study.dataset} (mean over its images). Difference = RankSRGAN - SRGAN.")
    stand = ("Stand-ins, applied identically to both arms: "
             + (study.stand_ins or "see the banner above") + ".")
    links_h = " | ".join(f'<a href="{_e(p)}">{_e(k)}</a>' for k, p in files.items())
    links_m = " | ".join(f"[{md_escape(k)}]({p})" for k, p in files.items())
    html = (f"<p>{_e(intro)}</p><p><b>{_e(stand)}</b></p>"
            f"<p>{_e(result['ranker'])}</p><p><b>Result:</b> {_e(result['verdict'])}</p>"
            f"<h3>Over seeds</h3>{_df_html(agg)}<h3>Per seed</h3>{_df_html(seeds)}"
            f'<p class="notes">Files: {links_h}</p>')
    # names (methods, dataset, stand-in note) come from the config: text, escaped
    md = "\n".join([md_escape(intro), "", f"**{md_escape(stand)}**", "",
                    md_escape(result["ranker"]), "",
                    f"**Result:** {md_escape(result['verdict'])}", "", "### Over seeds", "",
                    _df_md(agg),
                    "### Per seed", "", _df_md(seeds), f"Files: {links_m}", ""])
    return SectionEntry("mini_study", "Miniature study: SRGAN vs RankSRGAN on held-out photos",
                        html, md)


__all__: Sequence[str] = ["MiniStudy", "SeedPair", "aggregate", "build_tables", "display",
                          "markdown_table", "per_seed", "ranker_line", "section", "verdict"]
