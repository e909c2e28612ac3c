"""Build the whole report folder from explicit input files.

``build_report`` reads the inputs (``ranksrgan.report.inputs``), builds every paper table
(``tables.compare``) and figure (``figures``), writes each table as CSV / Markdown / LaTeX
under ``tables/``, figures as PNG / PDF under ``figures/``, and the page (``index.html`` +
``index.md``) last, so a finished page means a finished report. Every file is written
atomically. ``tables``: only those tables and the figures they need (:data:`FIGURE_TABLES`),
the page of one ``snakemake tableN`` target; a figure whose inputs are absent is skipped
with a line saying why.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from ranksrgan.errors import RankSRGANError
from ranksrgan.io import write_bytes_atomic
from ranksrgan.io.contracts import (
    STAND_IN,
    stand_in_labels,
    stand_in_mask,
    stand_in_notes,
    stand_in_reasons,
)
from ranksrgan.io.parquet import read_manifest
from ranksrgan.paper_results import RANKER_METRICS, SCORE_METRICS, is_published
from ranksrgan.report import figures as F
from ranksrgan.report import mini_study as mini
from ranksrgan.report import render
from ranksrgan.report.inputs import (
    read_data_manifests,
    read_dataset_images,
    read_rankdata,
    read_ranker_evals,
    read_ranker_summaries,
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
    shortened_text,
)

log = logging.getLogger(__name__)

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
    "beyond": "Beyond the paper: multiple Rankers, RankESRGAN",
}
# Figure -> the paper labels of the curves it draws (report.curves; the supplement's Fig. 1:
# RankSRGAN with Ranker1 vs Ranker2). Fig. 6 draws every other curve label.
FIGURE_CURVES = {"supp_fig1_convergence": ("RankSRGAN-R-D1", "RankSRGAN-R-D2")}
# The supplement's Figs. 3 / 4: Table 5's (regression, rank) rows and the label metric.
FIGURE_HISTOGRAMS = {
    "supp_fig3_niqe_outputs": ("NIQE regression", "NIQE rank", "NIQE", "Fig. 3"),
    "supp_fig4_ma_outputs": ("Ma regression", "Ma rank", "Ma", "Fig. 4"),
}
UNPUBLISHED_NOTE = "No published values (beyond the paper): the paper column reads \u2014."


def figure_tables(tables: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Figure name -> the tables whose page shows it (a ``--tables`` page draws the figures
    of its tables only): by the paper's sections for the paper's figures, by metric for the
    report's own (score boxes for every score table, ...)."""

    def having(*groups: Sequence[str]) -> list[str]:
        return [n for n, t in tables.items() if all(set(g) & set(t["metrics"]) for g in groups)]

    def named(*names: str) -> list[str]:
        return [n for n in names if n in tables]

    return {
        "fig6_convergence": named("table2"),  # Sec. 4.3, beside Table 2
        "fig5_crops": named("table2"),
        "ranker_srocc": having(RANKER_METRICS),
        "score_distributions": having(tuple(SCORE_METRICS)),
        "rankdata_stats": list(dict.fromkeys([*named("table1"), *having(("Data size (k)",))])),
        "pd_plane": having(("PI",), ("PSNR",)),
        "supp_fig1_convergence": named("supp_table1"),
        **{fig: named("table5") for fig in FIGURE_HISTOGRAMS},
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
    iteration_scale: float = 1.0  # train.iteration_scale: != 1 marks a shortened run


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
    # every stand_in below is the one encoding of ranksrgan.io.contracts: a note, "" = none
    if not scores.empty:
        notes = stand_in_notes(scores)
        si = scores.assign(stand_in=notes)[notes != ""]
        for note, g in si.groupby("stand_in", sort=True):
            methods = ", ".join(sorted(g["method"].unique()))
            lines.append(f"score rows ({methods}): {note}")
    for preset, meta in sorted(training_meta.items()):
        labels = stand_in_labels(meta.get(STAND_IN))
        if labels:
            lines.append(f"trained generator {preset} ({meta.get('iterations', '?')} "
                         f"iterations): {', '.join(labels)}")
    if not curves.empty:
        for preset, g in curves.groupby("preset", sort=True):
            labels = stand_in_reasons(g)
            if labels and preset not in training_meta:
                lines.append(f"validation curve {preset}: {'; '.join(labels)}")
    if not sr.empty:
        s = sr.assign(stand_in=stand_in_notes(sr))
        for (method, note), _ in s[s["stand_in"] != ""].groupby(["method", "stand_in"],
                                                                 sort=True):
            if method not in {m.get("preset") for m in training_meta.values()}:
                lines.append(f"SR method {method}: {note}")
    for kind, df in (("rank dataset", index), ("Ranker", rankers)):
        if df is None or df.empty:
            continue
        for name, g in df.groupby("name", sort=True):
            labels = stand_in_reasons(g)
            if labels:
                lines.append(f"{kind} {name}: {'; '.join(labels)}")
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
        si = bool(stand_in_mask(s[s["metric"].isin(["niqe", "psnr"])]).any())
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


def _trained(mapping: RunMapping, sr: pd.DataFrame) -> dict[str, str]:
    """Our SR methods that come from the training stage -> their preset: what the SR
    manifests say (``weights`` ``train:<preset>``) for the methods this run inferred, the
    config's ``train_preset`` for the others (a method with downloadable weights and a
    fallback preset, like srgan, is trained only when its manifest says so)."""
    trained = dict(mapping.trained)
    if sr.empty or "weights" not in sr.columns:
        return trained
    for method, g in sr.groupby("method", sort=True):
        named = [str(x) for x in g["weights"].dropna() if str(x)]
        if not named:  # bicubic, or a manifest older than the weights column: the config
            continue
        w = [x for x in named if x.startswith("train:")]
        if w:
            trained[str(method)] = w[0].removeprefix("train:")
        else:
            trained.pop(str(method), None)
    return trained


def _selected(paper_tables: Mapping[str, Any], tables: Sequence[str] | None) -> list[str]:
    """The tables to render (all by default); an unknown name is a one-line error."""
    if tables is None:
        return list(paper_tables)
    for t in tables:
        if t not in paper_tables:
            raise RankSRGANError(
                f"--tables: unknown table '{t}' (known: {', '.join(paper_tables)})"
            )
    return list(dict.fromkeys(tables))


def _histogram_figure(
    fig: str, evals: pd.DataFrame, mapping: RunMapping, stem: Path
) -> tuple[list[Path], str, str]:
    """The supplement's Fig. 3 / 4 from the evaluations of Table 5's two Rankers of one
    metric: (paths, caption, reason when skipped)."""
    reg_row, rank_row, metric, number = FIGURE_HISTOGRAMS[fig]
    t5 = mapping.for_table("table5").rankers
    caption = (f"Supplement {number}: histograms of the {metric} label, the regression "
               f"Ranker's and the rank Ranker's outputs on the SRGAN and ESRGAN validation "
               f"patches (Table 5's {reg_row} and {rank_row} Rankers, their eval.parquet).")
    names = {row: t5.get(row, "") for row in (reg_row, rank_row)}
    unmapped = [row for row, name in names.items() if not name]
    if unmapped:
        rows = "row" if len(unmapped) == 1 else "rows"
        return [], caption, (f"Table 5's {' and '.join(unmapped)} {rows} not mapped to a "
                             "Ranker (report.rankers)")
    have = set(evals["name"].astype(str))
    absent = [f"{names[row]} ({row})" for row in names if names[row] not in have]
    if absent:
        return [], caption, (f"no evaluation (eval.parquet) of Ranker {', '.join(absent)} in "
                             "this run")
    paths = F.ranker_histograms(evals, names[reg_row], names[rank_row], metric, stem,
                                title=f"{metric} label and Ranker outputs (supplement {number})")
    return paths, caption, ("" if paths else
                            "a Ranker's evaluation has no finite srgan or esrgan validation patch")


def _given(paths: list[Path]) -> Callable[[], list[Path]]:
    """A figure maker that returns paths drawn already."""
    return lambda: paths


def build_report(
    paper_path: str | os.PathLike,
    inputs: ReportInputs,
    settings: ReportSettings,
    out_dir: str | os.PathLike,
    provenance_extra: Mapping[str, Any] | None = None,
    tables: Sequence[str] | None = None,
) -> Path:
    """Write the report folder ``out_dir``; return the path of ``index.html``.

    ``tables``: names of the paper-results tables to render, with the figures they need
    (:func:`figure_tables`); ``None``: every table, figure and section.
    """
    out = Path(out_dir)
    paper = load_paper(paper_path)
    names = _selected(paper.tables, tables)
    scores = read_scores(inputs.scores)
    training = read_training(inputs.train)
    datasets = read_data_manifests(inputs.data_manifests)
    sr = read_sr_manifests(inputs.sr_manifests)
    index, _stats = read_rankdata(inputs.rankdata)
    evals = read_ranker_evals(inputs.rankers)

    # the data manifests name every image a dataset has: one without a score row is
    # counted as left out of its mean, not silently averaged over fewer images
    summary = score_summary(scores, read_dataset_images(inputs.data_manifests))
    # a Ranker whose evaluation was read but holds no patch is "not measured", not "not run";
    # its eval_summary.json gives Table 5's distance after the sigmoid and its size
    rsum = ranker_summary(evals, names=[Path(p).parent.name for p in inputs.rankers],
                          summaries=read_ranker_summaries(inputs.rankers))
    dsum = rankdata_summary(index)
    mapping = replace(settings.mapping, trained=_trained(settings.mapping, sr))
    notices = []
    if settings.iteration_scale != 1:
        notices.append(f"shortened run: {shortened_text(settings.iteration_scale)}")

    entries: list[TableEntry] = []
    all_cells = []
    for name in names:
        spec = paper.tables[name]
        cells = compare(paper.values[paper.values["table"] == name], summary, rsum, dsum, mapping,
                        settings.iteration_scale)
        all_cells.append(cells)
        title = TABLE_TITLES.get(name, name)
        caption = spec["caption"]
        if not is_published(spec):
            caption += f". {UNPUBLISHED_NOTE}"
        files = {}
        for ext, text in (
            ("csv", render.to_csv(cells)),
            ("md", render.to_markdown(cells, title, caption)),
            ("tex", render.to_latex(cells, caption, name)),
        ):
            p = out / "tables" / f"{name}.{ext}"
            write_bytes_atomic(p, text.encode())
            files[ext.upper() if ext != "md" else "Markdown"] = _rel(p, out)
        entries.append(
            TableEntry(name, title, caption, spec["source"], files, render.to_html(cells),
                       render.to_markdown(cells, title, caption), protocols(cells),
                       int((cells["status"] == "ok").sum()), len(cells))
        )

    needs = figure_tables(paper.tables)
    shown = set(names)
    figs: list[FigureEntry] = []
    fdir = out / "figures"

    def wanted(name: str) -> bool:
        """Every figure on the full report; on a --tables page, those of its tables."""
        return tables is None or bool(shown & set(needs.get(name, [])))

    def add(name: str, title: str, caption: str, make: Callable[[], list[Path]],
            reason: str) -> None:
        if not wanted(name):
            return  # a page of other tables: not drawn at all
        paths = make()
        figs.append(FigureEntry(name, title, caption, [_rel(p, out) for p in paths],
                                "" if paths else reason))

    claimed = {lab for labs in FIGURE_CURVES.values() for lab in labs}
    fig6 = {lab: p for lab, p in settings.curves.items() if lab not in claimed}
    add("fig6_convergence", "Fig. 6: convergence of SRGAN and RankSRGAN",
        "Mean PSNR and NIQE on the validation images at each validation step.",
        lambda: F.convergence(training.curves, fig6, fdir / "fig6_convergence"),
        "no validation curve of the configured presets "
        f"({', '.join(fig6.values()) or 'none configured'})")
    supp1 = {lab: settings.curves[lab] for lab in FIGURE_CURVES["supp_fig1_convergence"]
             if lab in settings.curves}
    add("supp_fig1_convergence", "Supplement Fig. 1: convergence with Ranker1 vs Ranker2",
        "Mean PSNR and NIQE on the validation images (R/train/{preset}/val.parquet) of "
        "RankSRGAN trained with Ranker1 (rank dataset 1, DIV2K) and Ranker2 (dataset 2, "
        "DIV2K+Flickr2K).",
        lambda: F.convergence(training.curves, supp1, fdir / "supp_fig1_convergence",
                              "Convergence with Ranker1 vs Ranker2 (supplement Fig. 1)"),
        ("no validation curve (val.parquet) of the presets behind RankSRGAN-R-D1 / -R-D2 "
         f"({', '.join(f'{k}: {v}' for k, v in supp1.items())}) in this run") if supp1 else
        "no train preset known for RankSRGAN-R-D1 / -R-D2 (report.curves, or the "
        "train_preset of their report.methods)")
    crops, box, where = _crops(scores, sr, inputs.data_manifests, settings)
    add("fig5_crops", "Fig. 5: crops per method",
        f"Centre crop of {where}; whole-image NIQE/PSNR under each crop.",
        lambda: F.crop_grid(crops, box, fdir / "fig5_crops", f"Fig. 5 style crops: {where}")
        if crops and box is not None else [], where)
    add("ranker_srocc", "Ranker output vs label",
        "Validation patches of each Ranker; SROCC between output and label (supplement).",
        lambda: F.ranker_scatter(evals, rsum, fdir / "ranker_srocc"),
        "no Ranker evaluation in this run")
    for fig, (_reg, _rank, metric, number) in FIGURE_HISTOGRAMS.items():
        if wanted(fig):
            paths, caption, reason = _histogram_figure(fig, evals, mapping, fdir / fig)
            add(fig, f"Supplement {number}: {metric} label vs Ranker outputs", caption,
                _given(paths), reason)
    add("score_distributions", "Per-image score distributions",
        "Boxes of per-image scores per method (triangles: means).",
        lambda: F.score_distributions(scores, fdir / "score_distributions"),
        "no scores in this run")
    add("rankdata_stats", "Rank dataset statistics",
        "Label scores per method and patches per split.",
        lambda: F.rankdata_stats(index, fdir / "rankdata_stats"), "no rank dataset in this run")
    add("pd_plane", "Perception-distortion plane",
        "Mean PI vs mean RMSE per method (RMSE = 255 / 10^(PSNR/20) per image, PIRM's axes).",
        lambda: F.pd_plane(summary, fdir / "pd_plane"),
        "PI and PSNR were not both scored in this run")

    sections = []
    if settings.mini_study is not None and tables is None:
        res = mini.build_tables(summary, rsum, evals, settings.mini_study)
        files = {}
        for key in ("per_seed", "aggregate"):
            frame = res[key]
            assert isinstance(frame, pd.DataFrame)
            for ext, text in (("csv", frame.to_csv(index=False)),
                              ("md", mini.markdown_table(frame))):
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
    title = settings.title
    if tables is not None:
        title += ": " + ", ".join(TABLE_TITLES.get(n, n).split(":")[0] for n in names)
    html = render_html(title, stand_ins, entries, figs, settings.setup, prov, sections,
                       notices)
    md = render_markdown(title, stand_ins, entries, figs, settings.setup, prov, sections,
                         notices)
    write_bytes_atomic(out / "index.md", md.encode())
    write_bytes_atomic(out / "index.html", html.encode())
    cells = pd.concat(all_cells, ignore_index=True) if all_cells else pd.DataFrame()
    n_ok = int((cells["status"] == "ok").sum()) if not cells.empty else 0
    log.info("%s: %d tables (%d of %d cells run), %d figures, %d stand-ins", out / "index.html",
             len(entries), n_ok, len(cells), sum(bool(f.files) for f in figs), len(stand_ins))
    return out / "index.html"
