"""Table builders: pure functions DataFrame -> DataFrame, no file access, no formatting.

``compare`` puts our value beside the paper's for every published cell of a table: one row
per cell with ``ours``, ``paper``, ``delta`` (ours - paper), a ``status`` ("ok", "not run",
"failed", "not measured"), the stand-in flag and note, and the best value per column marked
for ours and for the paper separately (lowest NIQE / PI / 10-Ma, highest PSNR / SROCC / ...).
A cell whose inputs were not run stays ``NaN`` with status "not run": nothing is invented.
A mean is taken over the usable images only (finite value, no error) and the cell's
``warning`` counts every image left out, whatever made it unusable.
Rendering (CSV / Markdown / LaTeX / HTML) lives in ``ranksrgan.report.render``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# Paper metric name -> our score metric (10-Ma and RMSE are derived per image below); shared
# with config validation, which checks the report section's labels against the same tables.
from ranksrgan.paper_results import RANKDATA_METRICS, RANKER_METRICS, SCORE_METRICS

CELL_COLUMNS = [
    "table",
    "row",
    "dataset",
    "metric",
    "ours",
    "paper",
    "delta",
    "status",
    "stand_in",
    "stand_in_note",
    "warning",
    "best_ours",
    "best_paper",
    "better",
    "note",
    "n",
    "from",
    "protocol",
]
POSITION = ("dataset", "image", "x", "y")  # one patch position of the rank dataset
SUMMARY_COLUMNS = [
    "dataset",
    "method",
    "metric",
    "value",
    "n",
    "n_failed",
    "excluded",
    "stand_in",
    "stand_in_note",
    "protocol",
]
# Why a score row is left out of the mean (the order the cell's note lists them in).
EXCLUDED = ("error", "NaN", "inf", "missing")
NAMES_SHOWN = 3  # image names per reason in a cell's note; the count is always complete


@dataclass
class RunMapping:
    """Which of our runs fills which paper row / dataset (config section ``report``).

    ``datasets``: paper dataset -> our dataset; ``dataset_stand_ins``: paper dataset -> why our
    dataset is only a stand-in for it (the demo's photos for PIRM-Test); ``methods``: paper row ->
    our SR method (score Parquets); ``rankers``: paper row -> Ranker name (``R/ranker/{name}``);
    ``rankdata``: paper row -> rank-dataset name (``R/rankdata/{name}``).
    """

    datasets: dict[str, str] = field(default_factory=dict)
    dataset_stand_ins: dict[str, str] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)
    rankers: dict[str, str] = field(default_factory=dict)
    rankdata: dict[str, str] = field(default_factory=dict)


def _join(values) -> str:
    return "; ".join(dict.fromkeys(v for v in values if v))


def _excluded_text(why: Mapping[str, list[str]]) -> str:
    """``NaN: im1; missing: im4, im5`` (at most :data:`NAMES_SHOWN` names per reason)."""
    parts = []
    for reason in EXCLUDED:
        names = sorted(dict.fromkeys(why.get(reason) or []))
        if names:
            more = f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
            parts.append(f"{reason}: {', '.join(names[:NAMES_SHOWN])}{more}")
    return "; ".join(parts)


def score_summary(
    scores: pd.DataFrame, images: Mapping[str, Iterable[str]] | None = None
) -> pd.DataFrame:
    """Mean per dataset x method x metric over the usable images: finite value, no error.

    Adds the derived metrics ``10-ma`` (10 - Ma, Tables 4 and 6) and ``rmse`` (255 /
    10^(PSNR/20) per image, the distortion axis of the PIRM perception-distortion plane).
    ``n`` counts the images in the mean; ``n_failed`` every image left out of it, whatever
    the reason: an error row, a NaN value (even with an empty ``error``), an infinite value
    (never averaged: a mean of inf says nothing), or an image of the dataset without a row
    (the dataset's images: ``images`` (dataset -> image names, e.g. from the data manifest)
    together with every image the dataset has a score row for). ``excluded`` says which
    image was left out and why; ``stand_in`` is true when any row is a stand-in.
    """
    if scores.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    df = scores.copy()
    derived = []
    for src, name, fn in (
        ("ma", "10-ma", lambda v: 10.0 - v),
        ("psnr", "rmse", lambda v: 255.0 / np.power(10.0, v / 20.0)),
    ):
        d = df[df["metric"] == src].copy()
        if not d.empty and not (df["metric"] == name).any():
            d["value"] = fn(d["value"].astype(float))
            d["metric"] = name
            derived.append(d)
    df = pd.concat([df, *derived], ignore_index=True)
    value = pd.to_numeric(df["value"], errors="coerce").astype(float)
    error = df["error"].fillna("").astype(str) != ""
    # first reason wins: an error row's value is NaN as well, and is counted once, as an error
    df["why"] = np.select([error, value.isna(), np.isinf(value)], ["error", "NaN", "inf"], "")
    df["value"] = value
    expected: dict[str, set[str]] = {
        str(ds): set(g["image"].astype(str)) for ds, g in df.groupby("dataset", sort=False)
    }
    for ds, names in (images or {}).items():
        expected.setdefault(str(ds), set()).update(map(str, names))
    rows = []
    for (ds, method, metric), g in df.groupby(["dataset", "method", "metric"], sort=True):
        ok = g[g["why"] == ""]
        why: dict[str, list[str]] = {
            r: list(g.loc[g["why"] == r, "image"].astype(str)) for r in EXCLUDED[:3]
        }
        why["missing"] = sorted(expected.get(str(ds), set()) - set(g["image"].astype(str)))
        rows.append(
            {
                "dataset": ds,
                "method": method,
                "metric": metric,
                "value": float(ok["value"].mean()) if len(ok) else np.nan,
                "n": len(ok),
                "n_failed": sum(len(v) for v in why.values()),
                "excluded": _excluded_text(why),
                "stand_in": bool(g["stand_in"].any()),
                "stand_in_note": _join(g["stand_in_note"]),
                "protocol": _join(g["protocol"]),
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _srocc(a: pd.Series, b: pd.Series) -> float:
    if len(a) < 2 or a.nunique() < 2 or b.nunique() < 2:
        return np.nan
    return float(a.rank().corr(b.rank()))  # Spearman = Pearson on ranks (average ties)


def ranker_summary(
    evals: pd.DataFrame, sr1: str = "srgan", sr2: str = "esrgan", names: Collection[str] = ()
) -> pd.DataFrame:
    """Per Ranker: SROCC of output vs label, and E|SR1-SR2| (Table 5).

    E|SR1-SR2| is the mean absolute difference of the Ranker's outputs on the ``sr1`` and
    ``sr2`` patches of one position; positions are matched on the index columns the
    evaluation carries (``dataset``, ``image``, ``x``, ``y``), else it is NaN. Patches whose
    output or label is NaN or infinite are left out of both (``n_excluded`` counts them;
    ``n`` counts the patches used). ``names``: every Ranker whose evaluation was read; one
    without any patch gets a row with ``n_patches`` 0 (its cells say "no validation
    patches" rather than "not run").
    """
    cols = ["name", "n", "n_patches", "n_excluded", "srocc", "e_sr1_sr2", "stand_in",
            "stand_in_note"]
    rows = []
    for name in sorted(set(map(str, names)) - set(evals["name"].astype(str))):
        rows.append({"name": name, "n": 0, "n_patches": 0, "n_excluded": 0, "srocc": np.nan,
                     "e_sr1_sr2": np.nan, "stand_in": False, "stand_in_note": ""})
    for name, g_all in evals.groupby("name", sort=True):
        out = pd.to_numeric(g_all["output"], errors="coerce").astype(float)
        lab = pd.to_numeric(g_all["label"], errors="coerce").astype(float)
        g = g_all[np.isfinite(out) & np.isfinite(lab)]
        keys = [c for c in POSITION if c in g.columns]
        e = np.nan
        if keys and "method" in g.columns:
            w = g.pivot_table(index=keys, columns="method", values="output", aggfunc="mean")
            if sr1 in w.columns and sr2 in w.columns:
                diff = (w[sr1] - w[sr2]).abs().dropna()
                e = float(diff.mean()) if len(diff) else np.nan
        si = (g_all["stand_in"].fillna("").astype(str) if "stand_in" in g_all.columns
              else pd.Series([""]))
        notes = [s for s in si if s not in ("", "False", "false", "0")]
        rows.append(
            {
                "name": name,
                "n": len(g),
                "n_patches": len(g_all),
                "n_excluded": len(g_all) - len(g),
                "srocc": _srocc(g["output"].astype(float), g["label"].astype(float)),
                "e_sr1_sr2": e,
                "stand_in": bool(notes),
                "stand_in_note": _join(n for n in notes if n not in ("True", "true", "1")),
            }
        )
    return pd.DataFrame(rows, columns=cols).sort_values("name", ignore_index=True)


def rankdata_summary(index: pd.DataFrame) -> pd.DataFrame:
    """Per rank dataset: positions (patches per level, the paper's "data size"), rows, methods."""
    cols = ["name", "positions", "rows", "methods", "images"]
    rows = []
    for name, g in index.groupby("name", sort=True):
        keys = [c for c in POSITION if c in g.columns]
        rows.append(
            {
                "name": name,
                "positions": int(g[keys].drop_duplicates().shape[0]),
                "rows": len(g),
                "methods": int(g["method"].nunique()),
                "images": int(g["image"].nunique()),
            }
        )
    return pd.DataFrame(rows, columns=cols)


def _ours_for(
    row: pd.Series,
    mapping: RunMapping,
    scores: pd.DataFrame,
    rankers: pd.DataFrame,
    rankdata: pd.DataFrame,
) -> dict:
    """Our value of one paper cell, or a status saying why there is none."""
    metric = row["metric"]
    out = {"ours": np.nan, "status": "not run", "stand_in": False, "stand_in_note": "",
           "warning": "", "n": 0, "from": "", "protocol": ""}
    if metric in SCORE_METRICS:
        method = mapping.methods.get(row["row"])
        dataset = mapping.datasets.get(row["dataset"])
        if not method or not dataset:
            return out
        out["from"] = f"scores/{dataset}/{method}"
        hit = scores[
            (scores["dataset"] == dataset)
            & (scores["method"] == method)
            & (scores["metric"] == SCORE_METRICS[metric])
        ]
        if hit.empty:
            return out
        h = hit.iloc[0]
        ds_note = mapping.dataset_stand_ins.get(row["dataset"], "")
        out.update(
            n=int(h["n"]),
            stand_in=bool(h["stand_in"]) or bool(ds_note),
            stand_in_note=_join([h["stand_in_note"], ds_note]),
            protocol=h["protocol"],
        )
        if h["n_failed"]:
            out["warning"] = (f"{h['n_failed']} of {h['n'] + h['n_failed']} images failed, "
                              f"not in the mean ({h['excluded']})")
        if h["n"] == 0:
            out["status"] = "failed"
            return out
        out.update(ours=float(h["value"]), status="ok")
        return out
    if metric in RANKER_METRICS:
        name = mapping.rankers.get(row["row"])
        if not name:
            return out
        out["from"] = f"ranker/{name}"
        hit = rankers[rankers["name"] == name]
        if hit.empty:
            return out
        h = hit.iloc[0]
        v = h["srocc"] if metric == "SROCC" else h["e_sr1_sr2"]
        out.update(n=int(h["n"]), stand_in=bool(h["stand_in"]), stand_in_note=h["stand_in_note"])
        # the Ranker ran, so "not run" would be wrong: its evaluation had nothing to measure
        if int(h.get("n_patches", h["n"])) == 0:
            out.update(status="not measured", warning="no validation patches")
            return out
        excluded = int(h.get("n_excluded", 0))
        if excluded:
            out["warning"] = (f"{excluded} of {int(h['n_patches'])} validation patches have a "
                              "NaN or infinite output or label, not used")
        if int(h["n"]) == 0:
            out["status"] = "failed"
            return out
        if pd.isna(v):
            out["status"] = "failed"
            out["warning"] = _join([out["warning"], "not computable from the evaluation file"])
            return out
        out.update(ours=float(v), status="ok")
        return out
    if metric in RANKDATA_METRICS:
        name = mapping.rankdata.get(row["row"])
        if not name:
            return out
        out["from"] = f"rankdata/{name}"
        hit = rankdata[rankdata["name"] == name]
        if hit.empty:
            return out
        out.update(ours=hit.iloc[0]["positions"] / 1000.0, status="ok",
                   n=int(hit.iloc[0]["positions"]))
        return out
    out["status"] = "not measured"
    return out


def mark_best(cells: pd.DataFrame) -> pd.DataFrame:
    """Flag the best value per (dataset, metric) column, for ours and for the paper."""
    cells = cells.copy()
    cells["best_ours"] = False
    cells["best_paper"] = False
    for _, g in cells.groupby(["dataset", "metric"], sort=False):
        better = g["better"].iloc[0]
        if better not in ("lower", "higher"):
            continue
        for col, flag in (("ours", "best_ours"), ("paper", "best_paper")):
            vals = g[col].dropna()
            if len(vals) < 2:
                continue
            best = vals.min() if better == "lower" else vals.max()
            cells.loc[vals.index[np.isclose(vals, best, rtol=0, atol=1e-12)], flag] = True
    return cells


def compare(
    paper: pd.DataFrame,
    scores: pd.DataFrame,
    rankers: pd.DataFrame,
    rankdata: pd.DataFrame,
    mapping: RunMapping,
) -> pd.DataFrame:
    """Cells of one paper table (``paper``: its rows of the long published-values frame).

    ``scores`` is :func:`score_summary`'s output, ``rankers`` :func:`ranker_summary`'s,
    ``rankdata`` :func:`rankdata_summary`'s (any may be empty). Row order follows the paper.
    """
    rows = []
    for _, r in paper.iterrows():
        ours = _ours_for(r, mapping, scores, rankers, rankdata)
        delta = ours["ours"] - r["paper"] if ours["status"] == "ok" else np.nan
        rows.append({**r.to_dict(), **ours, "delta": delta})
    cells = pd.DataFrame(rows)
    if cells.empty:
        return pd.DataFrame(columns=CELL_COLUMNS)
    cells = mark_best(cells)
    return cells[CELL_COLUMNS].reset_index(drop=True)


def protocols(cells: pd.DataFrame) -> list[dict]:
    """The distinct metric protocols (decoded JSON) behind a table's cells."""
    out, seen = [], set()
    for metric, text in zip(cells["metric"], cells["protocol"], strict=True):
        for part in str(text).split("; "):
            if not part or (metric, part) in seen:
                continue
            seen.add((metric, part))
            try:
                proto = {"metric": metric, **json.loads(part)}
            except json.JSONDecodeError:
                out.append({"metric": metric, "protocol": part})
                continue
            if str(metric).lower() in ("psnr", "ssim") and "quantize" in proto:
                proto["y_protocol"] = Y_PROTOCOL_NAMES[bool(proto["quantize"])]
            out.append(proto)
    return out


# Names of ranksrgan.metrics.fidelity.Y_PROTOCOLS (kept here: the report imports no torch).
Y_PROTOCOL_NAMES = {
    True: "pirm_matlab (PSNR/SSIM on uint8-rounded Y, PIRM's MATLAB code)",
    False: "authors_python (PSNR/SSIM on unrounded Y, the authors' Python test script)",
}


def summary_table(scores: pd.DataFrame, dataset: str | None = None) -> pd.DataFrame:
    """Wide terminal summary: (dataset, method) x metric means, plus stand-in and failed counts."""
    if dataset:
        scores = scores[scores["dataset"] == dataset]
    s = score_summary(scores)
    s = s[~s["metric"].isin(["10-ma", "rmse"])]
    if s.empty:
        return pd.DataFrame()
    table = s.pivot_table(index=["dataset", "method"], columns="metric", values="value")
    flags = s.groupby(["dataset", "method"]).agg(
        stand_in=("stand_in", "any"), failed=("n_failed", "sum")
    )
    return table.join(flags)


def as_mapping(d: Mapping | None) -> RunMapping:
    """A :class:`RunMapping` from the plain dict the CLI extracts from the config."""
    d = dict(d or {})
    return RunMapping(
        datasets=dict(d.get("datasets") or {}),
        dataset_stand_ins=dict(d.get("dataset_stand_ins") or {}),
        methods=dict(d.get("methods") or {}),
        rankers=dict(d.get("rankers") or {}),
        rankdata=dict(d.get("rankdata") or {}),
    )
