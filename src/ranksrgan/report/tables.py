"""Table builders: pure functions DataFrame -> DataFrame, no file access, no formatting.

``compare`` puts our value beside the paper's for every published cell of a table: one row
per cell with ``ours``, ``paper``, ``delta`` (ours - paper), a ``status`` ("ok", "not run",
"failed", "not measured"), the stand-in flag and note (for rendering, both from the one
encoding of ``ranksrgan.io.contracts``: the summaries' ``stand_in`` notes), and the best value
per column marked
for ours and for the paper separately (lowest NIQE / PI / 10-Ma, highest PSNR / SROCC / ...).
A cell whose inputs were not run stays ``NaN`` with status "not run": nothing is invented; a
"not measured" cell says why in ``warning``; ``detail`` says how a value was taken (which
file, which transform) and ``shortened`` marks a value of a trained run whose iterations were
scaled (``train.iteration_scale``). Which run fills a row is the config's ``report`` mapping
with ``report.tables.<table>`` laid over it (:func:`ranksrgan.table_plan.table_mapping`, the
rule the table targets plan by).
A mean is taken over the usable images only (finite value, no error) and the cell's
``warning`` counts every image left out, whatever made it unusable.
Rendering (CSV / Markdown / LaTeX / HTML) lives in ``ranksrgan.report.render``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

# Paper metric name -> our score metric (10-Ma and RMSE are derived per image below); shared
# with config validation, which checks the report section's labels against the same tables.
from ranksrgan.io.contracts import is_stand_in, stand_in_mask, stand_in_note, stand_in_notes
from ranksrgan.paper_results import (
    RANKDATA_METRICS,
    RANKER_METRICS,
    RANKER_PARAM_METRICS,
    SCORE_METRICS,
)
from ranksrgan.table_plan import table_mapping

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
    "detail",
    "shortened",
]
SECTIONS = ("methods", "rankers", "rankdata")  # the mapping sections report.tables overrides
POSITION = ("dataset", "image", "x", "y")  # one patch position of the rank dataset
SUMMARY_COLUMNS = [
    "dataset",
    "method",
    "metric",
    "value",
    "n",
    "n_failed",
    "excluded",
    "stand_in",  # the note of the group's stand-in rows ("" = none; ranksrgan.io.contracts)
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
    ``rankdata``: paper row -> rank-dataset name (``R/rankdata/{name}``); ``tables``: per
    table, section -> paper row -> name laid over the three above (``report.tables``, e.g.
    Table 7's SRGAN row is srgan296); ``trained``: our SR methods produced by the training
    stage -> their train preset (their cells are marked when the run was shortened).
    """

    datasets: dict[str, str] = field(default_factory=dict)
    dataset_stand_ins: dict[str, str] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)
    rankers: dict[str, str] = field(default_factory=dict)
    rankdata: dict[str, str] = field(default_factory=dict)
    tables: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    trained: dict[str, str] = field(default_factory=dict)

    def for_table(self, table: str) -> RunMapping:
        """The mapping one table's cells follow: ``tables[table]`` laid over the sections."""
        report = {**{s: getattr(self, s) for s in SECTIONS}, "tables": self.tables}
        return replace(self, tables={},
                       **{s: table_mapping(report, table, s) for s in SECTIONS})


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
    image was left out and why; ``stand_in`` is the note of its stand-in rows (``""``: none).
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
                "stand_in": stand_in_note(stand_in_notes(g)),
                "protocol": _join(g["protocol"]),
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _srocc(a: pd.Series, b: pd.Series) -> float:
    if len(a) < 2 or a.nunique() < 2 or b.nunique() < 2:
        return np.nan
    return float(a.rank().corr(b.rank()))  # Spearman = Pearson on ranks (average ties)


RANKER_COLUMNS = ["name", "n", "n_patches", "n_excluded", "srocc", "e_sr1_sr2", "e_source",
                  "e_n", "e_sr1", "e_sr2", "n_params", "n_params_from", "stand_in"]
E_SIGMOID = "after sigmoid"  # e_source: eval_summary.json's e_sr1_sr2 (the Ranker stage's)
E_RAW = "raw outputs"  # e_source: computed here from eval.parquet's outputs


def _number(v: Any) -> float:
    """A JSON number as float; NaN for null, a missing key or anything else."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return np.nan
    return float(v)


def _from_summary(row: dict, s: Mapping[str, Any]) -> dict:
    """Lay the Ranker stage's own numbers (``eval_summary.json`` / ``model.json``) over a row
    computed from eval.parquet: its E|SR1-SR2| (after the rank-content sigmoid) wins when it
    is recorded at all, even null (no position held both patches); its parameter count; its
    stand-in note."""
    if "e_sr1_sr2" in s:
        n = _number(s.get("n_sr1_sr2"))
        row.update(e_sr1_sr2=_number(s["e_sr1_sr2"]), e_source=E_SIGMOID,
                   e_n=int(n) if math.isfinite(n) else 0,
                   e_sr1=str(s.get("sr1") or row["e_sr1"]),
                   e_sr2=str(s.get("sr2") or row["e_sr2"]))
    n = _number(s.get("n_params"))
    if math.isfinite(n):
        row.update(n_params=n, n_params_from=str(s.get("n_params_from") or "eval_summary.json"))
    # the summary's stand-in note joins the rows' (a Ranker without validation rows has one)
    row["stand_in"] = stand_in_note([row["stand_in"], s.get("stand_in")])
    return row


def ranker_summary(
    evals: pd.DataFrame,
    sr1: str = "srgan",
    sr2: str = "esrgan",
    names: Collection[str] = (),
    summaries: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Per Ranker: SROCC of output vs label, E|SR1-SR2| (Table 5) and its parameter count.

    E|SR1-SR2| is the Ranker stage's ``e_sr1_sr2`` of its ``eval_summary.json`` (in
    ``summaries``, name -> that file's mapping): the distance after the rank-content loss's
    sigmoid, ``e_source`` "after sigmoid". Only when the file does not record it is it
    computed here from eval.parquet, ``e_source`` "raw outputs": the mean absolute
    difference of the raw outputs on the ``sr1`` and ``sr2`` patches of one position
    (positions matched on the index columns the evaluation carries, ``dataset``, ``image``,
    ``x``, ``y``, else NaN). ``e_n``: positions in that mean. ``n_params``: the summary's
    parameter count (NaN when the run did not record it). Patches whose output or label is
    NaN or infinite are left out (``n_excluded`` counts them; ``n`` counts the patches used).
    ``names``: every Ranker whose evaluation was read; one without any patch gets a row
    with ``n_patches`` 0 (its cells say "no validation patches" rather than "not run").
    ``stand_in``: the stand-in note of its evaluation rows and its summary (``""``: none).
    """
    summaries = summaries or {}
    rows = []
    for name in sorted(set(map(str, names)) - set(evals["name"].astype(str))):
        rows.append(_from_summary(
            {"name": name, "n": 0, "n_patches": 0, "n_excluded": 0, "srocc": np.nan,
             "e_sr1_sr2": np.nan, "e_source": E_RAW, "e_n": 0, "e_sr1": sr1, "e_sr2": sr2,
             "n_params": np.nan, "n_params_from": "", "stand_in": ""},
            summaries.get(name) or {}))
    for name, g_all in evals.groupby("name", sort=True):
        out = pd.to_numeric(g_all["output"], errors="coerce").astype(float)
        lab = pd.to_numeric(g_all["label"], errors="coerce").astype(float)
        g = g_all[np.isfinite(out) & np.isfinite(lab)]
        keys = [c for c in POSITION if c in g.columns]
        e, e_n = np.nan, 0
        if keys and "method" in g.columns and len(g):
            w = g.pivot_table(index=keys, columns="method", values="output", aggfunc="mean")
            if sr1 in w.columns and sr2 in w.columns:
                diff = (w[sr1] - w[sr2]).abs().dropna()
                e, e_n = (float(diff.mean()) if len(diff) else np.nan), len(diff)
        rows.append(_from_summary(
            {
                "name": name,
                "n": len(g),
                "n_patches": len(g_all),
                "n_excluded": len(g_all) - len(g),
                "srocc": _srocc(g["output"].astype(float), g["label"].astype(float)),
                "e_sr1_sr2": e,
                "e_source": E_RAW,
                "e_n": e_n,
                "e_sr1": sr1,
                "e_sr2": sr2,
                "n_params": np.nan,
                "n_params_from": "",
                "stand_in": stand_in_note(stand_in_notes(g_all)),
            },
            summaries.get(str(name)) or {},
        ))
    return pd.DataFrame(rows, columns=RANKER_COLUMNS).sort_values("name", ignore_index=True)


def rankdata_summary(index: pd.DataFrame) -> pd.DataFrame:
    """Per rank dataset: positions (patches per level, the paper's "data size"), rows, methods.

    A position is one patch location (dataset, image, x, y) holding one patch per perceptual
    level: what the supplement counts as its "pairs" (Table 1: 15 K and 150 K; Sec. 4.1 of the
    paper: "150 K patches" per level, 90 % train / 10 % validation), over every split.
    ``train_positions`` / ``val_positions`` split that count (NaN without a ``split`` column).
    """
    cols = ["name", "positions", "train_positions", "val_positions", "rows", "methods",
            "images"]
    rows = []
    for name, g in index.groupby("name", sort=True):
        keys = [c for c in POSITION if c in g.columns]
        per_split = {}
        if "split" in g.columns:
            for split in ("train", "val"):
                per_split[split] = int(g.loc[g["split"] == split, keys].drop_duplicates()
                                       .shape[0])
        rows.append(
            {
                "name": name,
                "positions": int(g[keys].drop_duplicates().shape[0]),
                "train_positions": per_split.get("train", np.nan),
                "val_positions": per_split.get("val", np.nan),
                "rows": len(g),
                "methods": int(g["method"].nunique()),
                "images": int(g["image"].nunique()),
            }
        )
    return pd.DataFrame(rows, columns=cols)


def _e_detail(h: pd.Series) -> str:
    """How a Ranker's E|SR1-SR2| was taken (the cell's ``detail``)."""
    pair = (f"SR1 = {h['e_sr1']}, SR2 = {h['e_sr2']}"
            + ("" if (h["e_sr1"], h["e_sr2"]) == ("srgan", "esrgan")
               else " (srgan and esrgan not both in the index: its two highest levels)"))
    if h["e_source"] == E_SIGMOID:
        return (f"after sigmoid: E|sigmoid(R(SR1)) - sigmoid(R(SR2))| over {int(h['e_n'])} "
                f"validation positions, the Ranker stage's eval_summary.json; {pair}")
    return (f"raw outputs: E|R(SR1) - R(SR2)| over {int(h['e_n'])} validation positions, "
            "computed from eval.parquet (its eval_summary.json has no e_sr1_sr2); "
            f"{pair}; a rank and a regression Ranker's raw scales do not compare")


def _ranker_cell(metric: str, h: pd.Series, out: dict) -> dict:
    """A SROCC / E|SR1-SR2| / Params (K) cell from one Ranker's summary row."""
    note = stand_in_note([h["stand_in"]])
    out.update(n=int(h["n"]), stand_in=is_stand_in(note), stand_in_note=note)
    if metric in RANKER_PARAM_METRICS:  # the network's size: no validation patch needed
        out["n"] = 0
        if pd.isna(h["n_params"]):
            out.update(status="not measured",
                       warning="parameter count not recorded by this Ranker run")
            return out
        out.update(ours=float(h["n_params"]) / 1000.0, status="ok",
                   detail=f"n_params {int(h['n_params'])} / 1000, from the Ranker's "
                          f"{h['n_params_from']}")
        return out
    # the Ranker ran, so "not run" would be wrong: its evaluation had nothing to measure
    if int(h.get("n_patches", h["n"])) == 0 and not (
        metric == "E|SR1-SR2|" and h["e_source"] == E_SIGMOID and pd.notna(h["e_sr1_sr2"])
    ):
        out.update(status="not measured", warning="no validation patches")
        return out
    excluded = int(h.get("n_excluded", 0))
    if excluded:
        out["warning"] = (f"{excluded} of {int(h['n_patches'])} validation patches have a "
                          "NaN or infinite output or label, not used")
    if metric == "SROCC":
        if int(h["n"]) == 0:
            out["status"] = "failed"
            return out
        if pd.isna(h["srocc"]):
            out["status"] = "failed"
            out["warning"] = _join([out["warning"], "not computable from the evaluation file"])
            return out
        out.update(ours=float(h["srocc"]), status="ok",
                   detail=f"Spearman of output vs label over {int(h['n'])} validation "
                          "patches (eval.parquet)")
        return out
    out["detail"] = _e_detail(h)
    if pd.isna(h["e_sr1_sr2"]):
        if int(h["n"]) == 0 and h["e_source"] == E_RAW:
            out["status"] = "failed"
            return out
        where = ("eval_summary.json records none" if h["e_source"] == E_SIGMOID
                 else "computed from eval.parquet")
        out.update(status="not measured",
                   warning=_join([out["warning"], "no validation position holds both the "
                                  f"{h['e_sr1']} and {h['e_sr2']} patches ({where})"]))
        return out
    out["n"] = int(h["e_n"])
    out.update(ours=float(h["e_sr1_sr2"]), status="ok")
    return out


def _ours_for(
    row: pd.Series,
    mapping: RunMapping,
    scores: pd.DataFrame,
    rankers: pd.DataFrame,
    rankdata: pd.DataFrame,
    shortened: str = "",
) -> dict:
    """Our value of one paper cell, or a status saying why there is none.

    ``mapping``: the table's own (:meth:`RunMapping.for_table`); ``shortened``: the text a
    value of a trained run carries when the run's iterations were scaled ("" otherwise).
    """
    metric = row["metric"]
    out = {"ours": np.nan, "status": "not run", "stand_in": False, "stand_in_note": "",
           "warning": "", "n": 0, "from": "", "protocol": "", "detail": "", "shortened": ""}
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
        note = stand_in_note([h["stand_in"], mapping.dataset_stand_ins.get(row["dataset"])])
        out.update(n=int(h["n"]), stand_in=is_stand_in(note), stand_in_note=note,
                   protocol=h["protocol"])
        if h["n_failed"]:
            out["warning"] = (f"{h['n_failed']} of {h['n'] + h['n_failed']} images failed, "
                              f"not in the mean ({h['excluded']})")
        if h["n"] == 0:
            out["status"] = "failed"
            return out
        out.update(ours=float(h["value"]), status="ok")
        if method in mapping.trained:
            out["shortened"] = shortened
        return out
    if metric in (*RANKER_METRICS, *RANKER_PARAM_METRICS):
        name = mapping.rankers.get(row["row"])
        if not name:
            return out
        out["from"] = f"ranker/{name}"
        hit = rankers[rankers["name"] == name]
        if hit.empty:
            return out
        out = _ranker_cell(metric, hit.iloc[0], out)
        if out["status"] == "ok" and metric in RANKER_METRICS:  # a trained Ranker's numbers
            out["shortened"] = shortened
        return out
    if metric in RANKDATA_METRICS:
        name = mapping.rankdata.get(row["row"])
        if not name:
            return out
        out["from"] = f"rankdata/{name}"
        hit = rankdata[rankdata["name"] == name]
        if hit.empty:
            return out
        h = hit.iloc[0]
        split = ("" if pd.isna(h.get("train_positions", np.nan)) else
                 f": {int(h['train_positions'])} train + {int(h['val_positions'])} val")
        out.update(ours=h["positions"] / 1000.0, status="ok", n=int(h["positions"]),
                   detail=f"{int(h['positions'])} positions{split} / 1000, from index.parquet; "
                          "a position is one patch location with a patch per level, what the "
                          "supplement counts as pairs (paper Sec. 4.1: 150 K patches per "
                          "level)")
        return out
    out.update(status="not measured", warning=f"the report has no reader for metric {metric}")
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


def shortened_text(iteration_scale: float) -> str:
    """``iterations x0.1 of the paper's`` for a scaled run; "" for the paper's schedule."""
    return "" if iteration_scale == 1 else f"iterations x{iteration_scale:g} of the paper's"


def compare(
    paper: pd.DataFrame,
    scores: pd.DataFrame,
    rankers: pd.DataFrame,
    rankdata: pd.DataFrame,
    mapping: RunMapping,
    iteration_scale: float = 1.0,
) -> pd.DataFrame:
    """Cells of one paper table (``paper``: its rows of the long published-values frame).

    ``scores`` is :func:`score_summary`'s output, ``rankers`` :func:`ranker_summary`'s,
    ``rankdata`` :func:`rankdata_summary`'s (any may be empty). Row order follows the paper.
    Each table's cells follow ``mapping`` with that table's ``report.tables`` override laid
    over it. ``iteration_scale`` (``train.iteration_scale``): when not 1, every value of a
    trained run (scores of a trained method, a Ranker's SROCC and E|SR1-SR2|) is marked
    ``shortened``.
    """
    rows = []
    short = shortened_text(iteration_scale)
    per_table = {t: mapping.for_table(t) for t in dict.fromkeys(paper["table"])}
    for _, r in paper.iterrows():
        ours = _ours_for(r, per_table[r["table"]], scores, rankers, rankdata, short)
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
    flags = s.assign(stand_in=stand_in_mask(s)).groupby(["dataset", "method"]).agg(
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
        tables={t: {s: dict(v or {}) for s, v in (sec or {}).items()}
                for t, sec in (d.get("tables") or {}).items()},
        trained=dict(d.get("trained") or {}),
    )
