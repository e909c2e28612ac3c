"""Build the whole report folder from explicit input files.

``build_report`` reads the inputs (``ranksrgan.report.inputs``), builds every paper table
(``tables.compare``) and figure (``figures``), writes each table as CSV / Markdown / LaTeX
under ``tables/``, figures as PNG / PDF under ``figures/``, and the page (``index.html`` +
``index.md``) last, so a finished page means a finished report. Every file is written
atomically.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ranksrgan.io import write_bytes_atomic
from ranksrgan.io.parquet import read_manifest
from ranksrgan.report import figures as F
from ranksrgan.report import mini_study as mini
from ranksrgan.report import render
from ranksrgan.report.inputs import (
    read_data_manifests,
    read_dataset_images,
    read_rankdata,
    read_ranker_evals,
    read_scores,
    read_sr_manifests,
    read_training,
)
from ranksrgan.report.page import FigureEntry, TableEntry, render_html, render_markdown
from ranksrgan.report.paper import load_paper
from ranksrgan.report.tables import (
    RunMapping,
    compare,
    protocols,
    rankdata_summary,
    ranker_summary,
    score_summary,
)

log = logging.getLogger(__name__)
NO = ("", "False", "false", "0")  # stand_in values that mean "not a stand-in"

TABLE_TITLES = {
    "table1": "Table 1: the rank dataset's three perceptual levels",
    "table2": "Table 2: comparison with the state of the art",
    "table3": "Table 3: RankSRGAN vs RankSRGAN-HR",
    "table4": "Table 4: Rankers learned from NIQE, Ma and PI",
    "table5": "Table 5: regression vs rank, Ranker output distance",
    "table6": "Table 6: RankSRGAN with regression vs rank Rankers",
    "table7": "Table 7: loss combinations",
    "supp_table1": "Supplement Table 1: rank-dataset size",
    "supp_table2": "Supplement Table 2: Ranker depth",
}


@dataclass
class ReportInputs:
    """Every input file, by kind (lists may be empty: that part of the report is "not run")."""

    scores: Sequence[str | os.PathLike] = ()
    train: Sequence[str | os.PathLike] = ()  # R/train/{preset}/G.json (val.parquet beside)
    data_manifests: Sequence[str | os.PathLike] = ()
    sr_manifests: Sequence[str | os.PathLike] = ()
    rankdata: Sequence[str | os.PathLike] = ()  # R/rankdata/{name}/index.parquet
    rankers: Sequence[str | os.PathLike] = ()  # R/ranker/{name}/eval.parquet


@dataclass
class ReportSettings:
    """Plain settings the CLI extracts from the config's ``report`` section and the rest."""

    mapping: RunMapping = field(default_factory=RunMapping)
    curves: dict[str, str] = field(default_factory=dict)  # label -> train preset
    crop_dataset: str | None = None  # our dataset name
    crop_image: str | None = None  # None = first image
    crop_size: int = 96
    title: str = "RankSRGAN reproduction report"
    config_path: str = ""
    setup: pd.DataFrame = field(default_factory=pd.DataFrame)
    extra_stand_ins: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    mini_study: mini.MiniStudy | None = None  # the "miniature study" section (report.mini_study)


def _rel(p: Path, root: Path) -> str:
    return p.relative_to(root).as_posix()


def stand_ins_of(
    scores: pd.DataFrame,
    training_meta: Mapping[str, Mapping[str, Any]],
    curves: pd.DataFrame,
    sr: pd.DataFrame,
    rankers: pd.DataFrame,
    mapping: RunMapping,
    extra: Sequence[str] = (),
    index: pd.DataFrame | None = None,
) -> list[str]:
    """Every stand-in of the run, one line each: what it is and where it was recorded."""
    lines: list[str] = list(extra)
    for ds, note in mapping.dataset_stand_ins.items():
        lines.append(f"dataset {mapping.datasets.get(ds, '?')} stands in for {ds}: {note}")
    if not scores.empty:
        si = scores[scores["stand_in"]]
        for note, g in si.groupby("stand_in_note", sort=True):
            methods = ", ".join(sorted(g["method"].unique()))
            lines.append(f"score rows ({methods}): {note or 'stand-in'}")
    for preset, meta in sorted(training_meta.items()):
        if meta.get("stand_in") or meta.get("labels"):
            labels = ", ".join(meta.get("labels") or ["stand-in"])
            lines.append(f"trained generator {preset} ({meta.get('iterations', '?')} "
                         f"iterations): {labels}")
    if not curves.empty:
        for preset, g in curves.groupby("preset", sort=True):
            notes = {str(s) for s in g["stand_in"].dropna() if str(s)}
            if notes and preset not in training_meta:
                lines.append(f"validation curve {preset}: {'; '.join(sorted(notes))}")
    if not sr.empty and "stand_in" in sr.columns:
        s = sr[sr["stand_in"].fillna("").astype(str) != ""]
        for (method, note), _ in s.groupby(["method", "stand_in"], sort=True):
            if method not in {m.get("preset") for m in training_meta.values()}:
                lines.append(f"SR method {method}: {note}")
    for kind, df in (("rank dataset", index), ("Ranker", rankers)):
        if df is None or df.empty or "stand_in" not in df.columns:
            continue
        for name, g in df.groupby("name", sort=True):
            vals = [str(s) for s in g["stand_in"].dropna()]
            notes = {n for v in vals for n in v.split("; ")} - {*NO, "True", "true"}
            if any(v not in NO for v in vals):
                lines.append(f"{kind} {name}: {'; '.join(sorted(notes)) or 'stand-in'}")
    return list(dict.fromkeys(lines))


def _crops(
    scores: pd.DataFrame,
    sr: pd.DataFrame,
    data_manifests: Sequence[str | os.PathLike],
    settings: ReportSettings,
) -> tuple[list[F.Crop], tuple[int, int, int] | None, str]:
    """Panels of the Fig. 5 crop grid (methods in the mapping's order, then ground truth)."""
    ds = settings.crop_dataset
    if not ds or sr.empty:
        return [], None, "no SR outputs of the crop dataset in this run"
    here = sr[sr["dataset"] == ds]
    if here.empty:
        return [], None, f"no SR outputs of dataset {ds} in this run"
    image = settings.crop_image or sorted(here["image"].unique())[0]
    order = list(dict.fromkeys([*settings.mapping.methods.values(), *here["method"]]))
    labels = {m: lab for lab, m in reversed(list(settings.mapping.methods.items()))}
    crops = []

    def scores_of(method: str) -> tuple[float, float, bool]:
        s = scores[(scores["dataset"] == ds) & (scores["method"] == method)
                   & (scores["image"] == image) & (scores["error"] == "")]
        get = {r.metric: r.value for r in s.itertuples()}
        si = bool(s.loc[s["metric"].isin(["niqe", "psnr"]), "stand_in"].any())
        return get.get("niqe", float("nan")), get.get("psnr", float("nan")), si

    for method in order:
        row = here[(here["method"] == method) & (here["image"] == image)]
        if row.empty:
            continue
        niqe, psnr, si = scores_of(method)
        crops.append(F.Crop(labels.get(method, method), str(row.iloc[0]["path"]), niqe, psnr, si))
    for mp in data_manifests:
        if Path(mp).parent.name == ds:
            dm = read_manifest(mp, ("image", "hr_path"), "data manifest")
            hr = dm[dm["image"] == image]
            if not hr.empty:
                niqe, _, si = scores_of("HR")
                crops.append(F.Crop("Ground truth", str(hr.iloc[0]["hr_path"]), niqe,
                                    float("nan"), si))
    if not crops:
        return [], None, f"image {image} has no SR output in {ds}"
    h, w = (int(here.iloc[0][k]) for k in ("height", "width")) if {"height", "width"} <= set(
        here.columns
    ) else (settings.crop_size, settings.crop_size)
    size = min(settings.crop_size, h, w)
    return crops, ((h - size) // 2, (w - size) // 2, size), f"{ds}/{image}"


def build_report(
    paper_path: str | os.PathLike,
    inputs: ReportInputs,
    settings: ReportSettings,
    out_dir: str | os.PathLike,
    provenance_extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write the report folder ``out_dir``; return the path of ``index.html``."""
    out = Path(out_dir)
    paper = load_paper(paper_path)
    scores = read_scores(inputs.scores)
    training = read_training(inputs.train)
    datasets = read_data_manifests(inputs.data_manifests)
    sr = read_sr_manifests(inputs.sr_manifests)
    index, _stats = read_rankdata(inputs.rankdata)
    evals = read_ranker_evals(inputs.rankers)

    # the data manifests name every image a dataset has: one without a score row is
    # counted as left out of its mean, not silently averaged over fewer images
    summary = score_summary(scores, read_dataset_images(inputs.data_manifests))
    # a Ranker whose evaluation was read but holds no patch is "not measured", not "not run"
    rsum = ranker_summary(evals, names=[Path(p).parent.name for p in inputs.rankers])
    dsum = rankdata_summary(index)
    mapping = settings.mapping

    tables: list[TableEntry] = []
    all_cells = []
    for name, spec in paper.tables.items():
        cells = compare(paper.values[paper.values["table"] == name], summary, rsum, dsum, mapping)
        all_cells.append(cells)
        title = TABLE_TITLES.get(name, name)
        files = {}
        for ext, text in (
            ("csv", render.to_csv(cells)),
            ("md", render.to_markdown(cells, title, spec["caption"])),
            ("tex", render.to_latex(cells, spec["caption"], name)),
        ):
            p = out / "tables" / f"{name}.{ext}"
            write_bytes_atomic(p, text.encode())
            files[ext.upper() if ext != "md" else "Markdown"] = _rel(p, out)
        tables.append(
            TableEntry(name, title, spec["caption"], spec["source"], files, render.to_html(cells),
                       render.to_markdown(cells, title, spec["caption"]), protocols(cells),
                       int((cells["status"] == "ok").sum()), len(cells))
        )

    figs: list[FigureEntry] = []
    fdir = out / "figures"

    def add(name: str, title: str, caption: str, paths: list[Path], reason: str) -> None:
        figs.append(FigureEntry(name, title, caption, [_rel(p, out) for p in paths],
                                "" if paths else reason))

    add("fig6_convergence", "Fig. 6: convergence of SRGAN and RankSRGAN",
        "Mean PSNR and NIQE on the validation images at each validation step.",
        F.convergence(training.curves, settings.curves, fdir / "fig6_convergence"),
        "no validation curve of the configured presets "
        f"({', '.join(settings.curves.values()) or 'none configured'})")
    crops, box, where = _crops(scores, sr, inputs.data_manifests, settings)
    add("fig5_crops", "Fig. 5: crops per method",
        f"Centre crop of {where}; whole-image NIQE/PSNR under each crop.",
        F.crop_grid(crops, box, fdir / "fig5_crops", f"Fig. 5 style crops: {where}")
        if crops else [], where)
    add("ranker_srocc", "Ranker output vs label",
        "Validation patches of each Ranker; SROCC between output and label (supplement).",
        F.ranker_scatter(evals, rsum, fdir / "ranker_srocc"), "no Ranker evaluation in this run")
    add("score_distributions", "Per-image score distributions",
        "Boxes of per-image scores per method (triangles: means).",
        F.score_distributions(scores, fdir / "score_distributions"), "no scores in this run")
    add("rankdata_stats", "Rank dataset statistics",
        "Label scores per method and patches per split.",
        F.rankdata_stats(index, fdir / "rankdata_stats"), "no rank dataset in this run")
    add("pd_plane", "Perception-distortion plane",
        "Mean PI vs mean RMSE per method (RMSE = 255 / 10^(PSNR/20) per image, PIRM's axes).",
        F.pd_plane(summary, fdir / "pd_plane"), "PI and PSNR were not both scored in this run")

    sections = []
    if settings.mini_study is not None:
        res = mini.build_tables(summary, rsum, evals, settings.mini_study)
        files = {}
        for key in ("per_seed", "aggregate"):
            for ext, text in (("csv", res[key].to_csv(index=False)),
                              ("md", mini.markdown_table(res[key]))):
                p = out / "tables" / f"mini_study_{key}.{ext}"
                write_bytes_atomic(p, text.encode())
                files[f"{key} {ext.upper()}"] = _rel(p, out)
        sections.append(mini.section(res, settings.mini_study, files))
    stand_ins = stand_ins_of(scores, training.meta, training.curves, sr, evals, mapping,
                             settings.extra_stand_ins, index)
    weights = []
    if not sr.empty:
        w = sr.dropna(subset=["weights_sha256"]).fillna({"weights": ""})
        for (method, name, sha), g in w.groupby(["method", "weights", "weights_sha256"],
                                                sort=True):
            what = f"SR method {method}" + (f" ({name})" if name else "")
            weights.append({"what": what, "sha256": sha,
                            "datasets": ", ".join(sorted(g["dataset"].unique()))})
    for preset, meta in sorted(training.meta.items()):
        weights.append({"what": f"trained G {preset}", "sha256": meta.get("weights_sha256", ""),
                        "datasets": f"{meta.get('iterations', '?')} iterations"})
    prov: dict[str, Any] = {
        "Run": {"config": settings.config_path, **dict(provenance_extra or {})},
        "Environment": settings.environment,
        "Datasets (sha256 over sorted image, HR and LR hashes)": datasets.drop(
            columns="manifest"
        ),
        "Weights": pd.DataFrame(weights, columns=["what", "sha256", "datasets"]),
        "Inputs": pd.DataFrame(
            [(kind, str(p)) for kind, ps in vars(inputs).items() for p in ps],
            columns=["kind", "path"],
        ),
    }
    html = render_html(settings.title, stand_ins, tables, figs, settings.setup, prov, sections)
    md = render_markdown(settings.title, stand_ins, tables, figs, settings.setup, prov, sections)
    write_bytes_atomic(out / "index.md", md.encode())
    write_bytes_atomic(out / "index.html", html.encode())
    cells = pd.concat(all_cells, ignore_index=True) if all_cells else pd.DataFrame()
    n_ok = int((cells["status"] == "ok").sum()) if not cells.empty else 0
    log.info("%s: %d tables (%d of %d cells run), %d figures, %d stand-ins", out / "index.html",
             len(tables), n_ok, len(cells), sum(bool(f.files) for f in figs), len(stand_ins))
    return out / "index.html"
