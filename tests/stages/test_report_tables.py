"""Issue 24: every table of the paper from one command, as the report renders it.

The per-table mapping override (``report.tables``) and its config checks, Table 5's distance
from the Ranker stage's ``eval_summary.json``, parameter counts, the rank-dataset size,
one-table pages (``report build --tables``), the "beyond the paper" table, the supplement's
Figs. 1 / 3 / 4, the shortened-run banner and notes, and cells that say why they are empty.
Inputs: ``tests.support.report_inputs.make_run``'s small hand-made results folder, varied per test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ranksrgan import paper_results
from ranksrgan.config import validate_config
from ranksrgan.errors import RankSRGANError
from ranksrgan.report.build import ReportInputs, build_report
from ranksrgan.report.cli import settings_from_config
from ranksrgan.report.inputs import read_rankdata, read_ranker_evals, read_ranker_summaries
from ranksrgan.report.paper import load_paper
from ranksrgan.report.render import cell_text, to_html, to_markdown, wide
from ranksrgan.report.tables import (
    RunMapping,
    compare,
    rankdata_summary,
    ranker_summary,
    score_summary,
)
from ranksrgan.table_plan import table_mapping
from tests.support import REPO
from tests.support.report_inputs import MAPPING, PAPER, build_small_report, make_run

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def paper():
    return load_paper(PAPER)


def _table(paper, name: str) -> pd.DataFrame:
    return paper.values[paper.values["table"] == name]


def _summaries(inputs: dict) -> tuple:
    from ranksrgan.report.inputs import read_scores

    evals = read_ranker_evals(inputs["rankers"])
    index, _ = read_rankdata(inputs["rankdata"])
    rs = ranker_summary(evals, names=[Path(p).parent.name for p in inputs["rankers"]],
                        summaries=read_ranker_summaries(inputs["rankers"]))
    return score_summary(read_scores(inputs["scores"])), rs, rankdata_summary(index)


def _cell(cells: pd.DataFrame, row: str, metric: str) -> pd.Series:
    hit = cells[(cells["row"] == row) & (cells["metric"] == metric)]
    assert len(hit) == 1, (row, metric, len(hit))
    return hit.iloc[0]


def _one_line(fn, *args) -> str:
    with pytest.raises(RankSRGANError) as exc:
        fn(*args)
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


# ------------------------------------------------------------ 1: per-table mapping override

def test_table_override_fills_only_that_tables_row(tmp_path, paper):
    """Table 7's SRGAN row is another run than Table 2's / Table 4's SRGAN row."""
    inputs = make_run(tmp_path)
    s, r, d = _summaries(inputs)
    mapping = RunMapping(**{**vars(MAPPING),
                            "tables": {"table7": {"methods": {"SRGAN": "ranksrgan"}}}})
    t7 = compare(_table(paper, "table7"), s, r, d, mapping)
    t4 = compare(_table(paper, "table4"), s, r, d, mapping)
    assert _cell(t7, "SRGAN", "NIQE")["ours"] == pytest.approx(2.5)  # ranksrgan's mean
    assert _cell(t7, "SRGAN", "NIQE")["from"] == "scores/demo_test/ranksrgan"
    assert _cell(t4, "SRGAN", "NIQE")["ours"] == pytest.approx(3.0)  # srgan's (1 image)
    # the report's rule is the planner's: the same mapping for every table and section
    report = {"methods": mapping.methods, "rankers": mapping.rankers,
              "rankdata": mapping.rankdata, "tables": mapping.tables}
    for table in paper.tables:
        m = mapping.for_table(table)
        for section in ("methods", "rankers", "rankdata"):
            assert getattr(m, section) == table_mapping(report, table, section)


def test_table_override_from_the_config_reaches_the_page(tmp_path):
    inputs = make_run(tmp_path)
    config = {"report": {"datasets": {"PIRM-Test": {"dataset": "demo_test"}},
                         "methods": {"SRGAN": "srgan", "RankSRGAN": "ranksrgan"},
                         "tables": {"table7": {"methods": {"SRGAN": "bicubic"}}}}}
    settings = settings_from_config(config, "c.yaml", str(PAPER))
    index = build_report(PAPER, ReportInputs(**inputs), settings, tmp_path / "rep",
                         tables=["table2", "table7"])
    t7 = pd.read_csv(index.parent / "tables" / "table7.csv")
    t2 = pd.read_csv(index.parent / "tables" / "table2.csv")
    assert _cell(t7, "SRGAN", "NIQE")["ours"] == pytest.approx(7.5)  # bicubic
    row = t2[(t2["row"] == "SRGAN") & (t2["dataset"] == "PIRM-Test") & (t2["metric"] == "NIQE")]
    assert row.iloc[0]["ours"] == pytest.approx(3.0)


def _demo() -> dict:
    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


@pytest.mark.parametrize(("tables", "key", "listed"), [
    ({"table77": {"methods": {"SRGAN": "srgan"}}}, "report.tables.table77", "table7"),
    ({"table7": {"methods": {"SRGN": "srgan"}}}, "report.tables.table7.methods.SRGN",
     "RankSRGAN-M1"),
    # a row of the paper, but not of this table: it would fill no cell of it
    ({"table7": {"methods": {"RankSRGAN-HR": "srgan"}}},
     "report.tables.table7.methods.RankSRGAN-HR", "SRGAN"),
    # Table 7 has no Ranker metric: no Ranker label fills a cell of it
    ({"table7": {"rankers": {"SRGAN": "niqe"}}}, "report.tables.table7.rankers.SRGAN", "none"),
    ({"table5": {"rankers": {"NIQE Rank": "niqe"}}}, "report.tables.table5.rankers.NIQE Rank",
     "NIQE rank"),
])
def test_table_override_labels_are_checked(tables, key, listed):
    cfg = _demo()
    cfg["report"]["tables"] = tables
    msg = _one_line(validate_config, cfg, SCHEMA, "my.yaml")
    assert msg.startswith(f"my.yaml: config key '{key}': unknown "), msg
    assert listed in msg.split("(known: ", 1)[1], msg


def test_table_override_method_must_exist_and_good_overrides_pass():
    cfg = _demo()
    cfg["report"]["tables"] = {"table7": {"methods": {"SRGAN": "srgna"}}}
    msg = _one_line(validate_config, cfg, SCHEMA, "my.yaml")
    assert msg.startswith("my.yaml: config key 'report.tables.table7.methods.SRGAN': unknown "
                          "method 'srgna'"), msg
    cfg["report"]["tables"] = {"table7": {"methods": {"SRGAN": "bicubic"}},
                               "table5": {"rankers": {"NIQE rank": "niqe"}}}
    validate_config(cfg, SCHEMA, "my.yaml")


# ------------------------------------------------------------ 2: Table 5, Params, data size

def _write_summary(inputs: dict, name: str, data: dict, fname: str = "eval_summary.json"):
    ev = next(Path(p) for p in inputs["rankers"] if Path(p).parent.name == name)
    (ev.parent / fname).write_text(json.dumps(data))


def test_distance_comes_from_eval_summary_after_sigmoid(tmp_path, paper):
    inputs = make_run(tmp_path)
    _write_summary(inputs, "niqe", {"e_sr1_sr2": 0.1234, "e_sr1_sr2_raw": 1.0,
                                    "sr1": "srgan", "sr2": "esrgan", "n_sr1_sr2": 2,
                                    "n_params": 13734123})
    s, r, d = _summaries(inputs)
    t5 = compare(_table(paper, "table5"), s, r, d, MAPPING)
    c = _cell(t5, "NIQE rank", "E|SR1-SR2|")
    assert c["status"] == "ok" and c["ours"] == pytest.approx(0.1234)  # not the raw 1.0
    assert c["detail"].startswith("after sigmoid: ") and "eval_summary.json" in c["detail"]
    assert "over 2 validation positions" in c["detail"]
    assert "NIQE rank E&#124;SR1-SR2&#124;: after sigmoid" in to_markdown(t5, "T5", "c")
    s2 = compare(_table(paper, "supp_table2"), s, r, d, MAPPING)
    p = _cell(s2, "VGG-12", "Params (K)")
    assert p["status"] == "ok" and p["ours"] == pytest.approx(13734.123)
    assert p["delta"] == pytest.approx(13734.123 - 13734)
    assert "eval_summary.json" in p["detail"]
    assert cell_text(p) == "13,734 / 13,734 (+0.12)"


def test_distance_falls_back_to_raw_outputs_without_the_summary(tmp_path, paper):
    inputs = make_run(tmp_path)
    s, r, d = _summaries(inputs)
    c = _cell(compare(_table(paper, "table5"), s, r, d, MAPPING), "NIQE rank", "E|SR1-SR2|")
    # make_run's outputs: srgan and esrgan differ by exactly 1 at every position
    assert c["status"] == "ok" and c["ours"] == pytest.approx(1.0)
    assert c["detail"].startswith("raw outputs: ") and "eval.parquet" in c["detail"]
    # a summary without the key (an older Ranker run) is "absent" too
    _write_summary(inputs, "niqe", {"srocc": 0.9})
    s, r, d = _summaries(inputs)
    c = _cell(compare(_table(paper, "table5"), s, r, d, MAPPING), "NIQE rank", "E|SR1-SR2|")
    assert c["ours"] == pytest.approx(1.0) and c["detail"].startswith("raw outputs: ")


def test_distance_recorded_as_null_says_why(tmp_path, paper):
    inputs = make_run(tmp_path)
    _write_summary(inputs, "niqe", {"e_sr1_sr2": None, "sr1": "srgan", "sr2": "esrgan",
                                    "n_sr1_sr2": 0})
    s, r, d = _summaries(inputs)
    c = _cell(compare(_table(paper, "table5"), s, r, d, MAPPING), "NIQE rank", "E|SR1-SR2|")
    assert c["status"] == "not measured" and np.isnan(c["ours"])
    assert cell_text(c) == ("not measured: no validation position holds both the srgan and "
                            "esrgan patches (eval_summary.json records none) / 0.11")


def test_distance_of_stand_in_levels_is_named(tmp_path, paper):
    inputs = make_run(tmp_path)
    _write_summary(inputs, "niqe", {"e_sr1_sr2": 0.2, "sr1": "srresnet", "sr2": "esrgan",
                                    "n_sr1_sr2": 4})
    s, r, d = _summaries(inputs)
    c = _cell(compare(_table(paper, "table5"), s, r, d, MAPPING), "NIQE rank", "E|SR1-SR2|")
    assert "SR1 = srresnet, SR2 = esrgan (srgan and esrgan not both" in c["detail"]


def test_params_from_model_json_or_not_recorded(tmp_path, paper):
    inputs = make_run(tmp_path)
    _write_summary(inputs, "niqe", {"n_params": 7069000, "ranker": "niqe"}, "model.json")
    _write_summary(inputs, "niqe", {"e_sr1_sr2": 0.1, "n_params": None})
    s, r, d = _summaries(inputs)
    p = _cell(compare(_table(paper, "supp_table2"), s, r, d, MAPPING), "VGG-12", "Params (K)")
    assert p["ours"] == pytest.approx(7069.0) and "model.json" in p["detail"]
    for f in ("model.json", "eval_summary.json"):
        (Path(inputs["rankers"][0]).parent / f).unlink()
    s, r, d = _summaries(inputs)
    cells = compare(_table(paper, "supp_table2"), s, r, d, MAPPING)
    p = _cell(cells, "VGG-12", "Params (K)")
    assert cell_text(p) == "not measured: parameter count not recorded by this Ranker run / 13,734"
    assert "not measured: parameter count not recorded" in to_html(cells)


def test_a_damaged_summary_names_the_file(tmp_path):
    inputs = make_run(tmp_path)
    bad = Path(inputs["rankers"][0]).parent / "eval_summary.json"
    bad.write_text("{nope")
    assert _one_line(read_ranker_summaries, inputs["rankers"]).startswith(
        f"{bad}: cannot read JSON")
    bad.write_text("[1, 2]")
    assert _one_line(read_ranker_summaries, inputs["rankers"]) == \
        f"{bad}: expected a JSON object, got list"


def test_data_size_counts_positions_not_patches(tmp_path, paper):
    """make_run's index: 2 images x 2 positions x 3 levels = 12 patches, 4 positions
    (image 0 train, image 1 val): the supplement's "pairs" are positions."""
    inputs = make_run(tmp_path)
    s, r, d = _summaries(inputs)
    assert len(pd.read_parquet(inputs["rankdata"][0])) == 12
    c = _cell(compare(_table(paper, "supp_table1"), s, r, d, MAPPING), "RankSRGAN-R-D2",
              "Data size (k)")
    assert c["ours"] == pytest.approx(4 / 1000) and c["n"] == 4
    assert c["detail"].startswith("4 positions: 2 train + 2 val / 1000, from index.parquet")
    assert "pairs" in c["detail"]
    assert cell_text(c) == "0.004 / 150 (-149.996)"  # a small run's size still shows


# ------------------------------------------------------------ 3: one table's page

def _cli(tmp_path: Path, inputs: dict, *extra: str) -> subprocess.CompletedProcess:
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["report"]["crops"]["size"] = 32
    cfg_path = tmp_path / "demo.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    args = [sys.executable, "-m", "ranksrgan", "report", "build", "--config", str(cfg_path),
            "--paper", str(PAPER), "--out", str(tmp_path / "page")]
    for flag, key in (("--scores", "scores"), ("--train", "train"),
                      ("--data-manifests", "data_manifests"), ("--sr-manifests", "sr_manifests"),
                      ("--rankdata", "rankdata"), ("--rankers", "rankers")):
        args += [flag, *map(str, inputs[key])]
    return subprocess.run([*args, *extra], capture_output=True, text=True, cwd=REPO)


def test_tables_flag_renders_that_table_alone(tmp_path):
    inputs = make_run(tmp_path)
    proc = _cli(tmp_path, inputs, "--tables", "table4")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "page"
    html = (out / "index.html").read_text()
    md = (out / "index.md").read_text()
    assert sorted(p.name for p in (out / "tables").iterdir()) == [
        "table4.csv", "table4.md", "table4.tex"]
    assert 'id="table4"' in html and 'id="table2"' not in html and 'id="table5"' not in html
    assert "Table 4: Rankers learned from NIQE, Ma and PI" in md and "Table 2:" not in md
    # Table 4's figures (its scores; PI and PSNR): drawn; other tables' figures: absent
    figs = sorted(p.name for p in (out / "figures").iterdir())
    assert figs == ["pd_plane.pdf", "pd_plane.png", "score_distributions.pdf",
                    "score_distributions.png"]
    for other in ("fig6_convergence", "ranker_srocc", "supp_fig1_convergence",
                  "supp_fig3_niqe_outputs", "rankdata_stats"):
        assert f'id="{other}"' not in html
    assert "Miniature" not in html  # whole-report sections are not on a table's page


def test_tables_flag_unknown_name_is_one_line(tmp_path):
    inputs = make_run(tmp_path, with_rank=False)
    proc = _cli(tmp_path, inputs, "--tables", "table4", "table9")
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: --tables: unknown table 'table9' (known: "
                                          "table1, table2,")
    assert not (tmp_path / "page" / "index.html").exists()


def test_default_page_has_every_table_and_figure(tmp_path):
    inputs = make_run(tmp_path)
    index = build_small_report(tmp_path, inputs, tmp_path / "rep")
    html = index.read_text()
    for name in load_paper(PAPER).tables:
        assert f'id="{name}"' in html, name
    for fig in ("fig6_convergence", "supp_fig1_convergence", "supp_fig3_niqe_outputs",
                "supp_fig4_ma_outputs", "ranker_srocc", "pd_plane"):
        assert f'id="{fig}"' in html, fig


# ------------------------------------------------------------ 4: beyond the paper

def test_beyond_table_renders_ours_with_no_paper_value(tmp_path, paper):
    assert not paper_results.is_published(paper.tables["beyond"])
    inputs = make_run(tmp_path)
    s, r, d = _summaries(inputs)
    mapping = RunMapping(**{**vars(MAPPING), "methods": {"ESRGAN": "ranksrgan"}})
    cells = compare(_table(paper, "beyond"), s, r, d, mapping)
    assert list(dict.fromkeys(cells["row"])) == ["RankSRGAN-NM", "RankESRGAN", "ESRGAN"]
    assert list(dict.fromkeys(cells["metric"])) == ["NIQE", "PI", "PSNR"]
    c = _cell(cells, "ESRGAN", "NIQE")
    assert c["status"] == "ok" and np.isnan(c["paper"]) and np.isnan(c["delta"])
    assert cell_text(c) == "2.50\u2020 / \u2014"
    assert cell_text(_cell(cells, "RankSRGAN-NM", "PI")) == "not run / \u2014"
    assert not cells["best_paper"].any()
    # through the page: the caption says there are no published values
    index = build_small_report(tmp_path, inputs, tmp_path / "rep")
    md = (index.parent / "tables" / "beyond.md").read_text()
    assert "No published values (beyond the paper)" in md
    assert "| RankSRGAN-NM | L_P + w_N L_R(NIQE) + w_M L_R(Ma) | not run / \u2014 |" in md
    assert "No published values (beyond the paper)" in index.read_text()


def _paper_file(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(PAPER.read_text())
    mutate(data["tables"])
    p = tmp_path / "paper.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda t: t["table3"]["rows"]["SRGAN"].update(NIQE=None),
     "key 'tables.table3.rows.SRGAN.NIQE': null (no published value) needs published: false "
     "on tables.table3"),
    (lambda t: t["beyond"]["rows"]["ESRGAN"].update(NIQE=2.5),
     "key 'tables.beyond.rows.ESRGAN.NIQE': tables.beyond has published: false: its values "
     "are null (the paper has none), got 2.5"),
    (lambda t: t["beyond"].update(datasets=["PIRM-Test"]) or t["beyond"].pop("dataset"),
     "key 'tables.beyond.datasets': a table with published: false takes one test set"),
    (lambda t: t["beyond"].update(published="no"),
     "key 'tables.beyond.published': expected a boolean, got 'no'"),
])
def test_unpublished_values_are_checked(tmp_path, mutate, expected):
    bad = _paper_file(tmp_path, mutate)
    for load in (load_paper, paper_results.load):
        msg = _one_line(load, bad)
        assert msg.startswith(f"{bad}: {expected}"), msg


def test_beyond_rows_are_labels_the_config_may_map():
    labels = paper_results.mapping_labels(paper_results.load(PAPER))["methods"]
    assert {"RankSRGAN-NM", "RankESRGAN", "ESRGAN"} <= set(labels)
    cfg = _demo()
    cfg["report"]["methods"]["RankESRGAN"] = "bicubic"
    validate_config(cfg, SCHEMA, "demo.yaml")


# ------------------------------------------------------------ 5: supplement figures

def _add_curve(inputs: dict, root: Path, preset: str, base: float) -> None:
    d = root / "results" / "train" / preset
    d.mkdir(parents=True)
    pd.DataFrame([{"iteration": it, "image": "im0", "psnr": 24 + 0.01 * it,
                   "niqe": base - 0.01 * it} for it in (0, 10, 20)]).to_parquet(d / "val.parquet")
    (d / "G.json").write_text(json.dumps({"preset": preset, "iterations": 20}))
    inputs["train"].append(d / "G.json")


def _config_d1_d2() -> dict:
    return {"methods": {"ranksrgan_d1": {"kind": "network", "train_preset": "ranksrgan_div2k"},
                        "ranksrgan": {"kind": "network", "train_preset": "ranksrgan_niqe"}},
            "report": {"datasets": {"PIRM-Test": {"dataset": "demo_test"}},
                       "methods": {"RankSRGAN-R-D1": "ranksrgan_d1",
                                   "RankSRGAN-R-D2": "ranksrgan", "RankSRGAN": "ranksrgan"},
                       "curves": {"SRGAN": "srgan", "RankSRGAN": "ranksrgan_niqe"}}}


def test_supp_fig1_curves_of_the_presets_behind_d1_and_d2(tmp_path, monkeypatch):
    from ranksrgan.report import figures

    inputs = make_run(tmp_path, with_rank=False)
    _add_curve(inputs, tmp_path, "ranksrgan_div2k", 3.0)
    settings = settings_from_config(_config_d1_d2(), "c.yaml", str(PAPER))
    # the labels come from the methods' train presets when report.curves does not give them
    assert settings.curves["RankSRGAN-R-D1"] == "ranksrgan_div2k"
    assert settings.curves["RankSRGAN-R-D2"] == "ranksrgan_niqe"
    drawn = {}
    real = figures.convergence

    def spy(curves, presets, stem, *args):
        drawn[Path(stem).name] = dict(presets)
        return real(curves, presets, stem, *args)

    monkeypatch.setattr(figures, "convergence", spy)
    index = build_report(PAPER, ReportInputs(**inputs), settings, tmp_path / "rep")
    # Fig. 6 keeps its two curves; the supplement's Fig. 1 draws D1 vs D2
    assert drawn["fig6_convergence"] == {"SRGAN": "srgan", "RankSRGAN": "ranksrgan_niqe"}
    assert drawn["supp_fig1_convergence"] == {"RankSRGAN-R-D1": "ranksrgan_div2k",
                                              "RankSRGAN-R-D2": "ranksrgan_niqe"}
    png = index.parent / "figures" / "supp_fig1_convergence.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "figures/supp_fig1_convergence.png" in index.read_text()


def test_supp_fig1_without_its_curves_says_why(tmp_path):
    inputs = make_run(tmp_path, with_rank=False)
    inputs["train"] = []
    settings = settings_from_config(_config_d1_d2(), "c.yaml", str(PAPER))
    index = build_report(PAPER, ReportInputs(**inputs), settings, tmp_path / "rep",
                         tables=["supp_table1"])
    html = index.read_text()
    assert ("not run: no validation curve (val.parquet) of the presets behind RankSRGAN-R-D1 "
            "/ -R-D2 (RankSRGAN-R-D1: ranksrgan_div2k, RankSRGAN-R-D2: ranksrgan_niqe) in this "
            "run") in html
    assert not (index.parent / "figures" / "supp_fig1_convergence.png").exists()


def _add_ranker(inputs: dict, root: Path, name: str, output) -> None:
    src = pd.read_parquet(inputs["rankers"][0])
    d = root / "results" / "ranker" / name
    d.mkdir(parents=True)
    src.assign(output=output(src)).to_parquet(d / "eval.parquet")
    inputs["rankers"].append(d / "eval.parquet")


def test_supp_fig3_histograms_of_table5_rankers(tmp_path, monkeypatch):
    from ranksrgan.report import figures

    inputs = make_run(tmp_path)
    # a regression Ranker: outputs near the label; make_run's rank Ranker "niqe" is the other
    _add_ranker(inputs, tmp_path, "niqe_regression", lambda t: t["label"] + 0.01 * t["x"])
    seen = {}
    real = figures.ranker_histograms

    def spy(evals, regression, rank, metric, stem, **kw):
        seen[Path(stem).name] = (regression, rank, metric)
        return real(evals, regression, rank, metric, stem, **kw)

    monkeypatch.setattr(figures, "ranker_histograms", spy)
    mapping = {**MAPPING.rankers, "NIQE regression": "niqe_regression"}
    cfg = {"report": {"datasets": {"PIRM-Test": {"dataset": "demo_test"}},
                      "methods": {}, "rankers": mapping}}
    settings = settings_from_config(cfg, "c.yaml", str(PAPER))
    index = build_report(PAPER, ReportInputs(**inputs), settings, tmp_path / "rep",
                         tables=["table5"])
    html = index.read_text()
    assert seen == {"supp_fig3_niqe_outputs": ("niqe_regression", "niqe", "NIQE")}
    assert (index.parent / "figures" / "supp_fig3_niqe_outputs.png").read_bytes()[:4] == \
        b"\x89PNG"
    assert "figures/supp_fig3_niqe_outputs.png" in html
    # the Ma Rankers of Table 5 are not mapped: Fig. 4 is skipped with the reason
    assert ("not run: Table 5&#x27;s Ma regression and Ma rank rows not mapped to a Ranker"
            in html)


def test_supp_fig3_without_a_rankers_evaluation_names_it(tmp_path):
    inputs = make_run(tmp_path)
    cfg = {"report": {"datasets": {}, "methods": {},
                      "rankers": {**MAPPING.rankers, "NIQE regression": "niqe_regression"}}}
    settings = settings_from_config(cfg, "c.yaml", str(PAPER))
    index = build_report(PAPER, ReportInputs(**inputs), settings, tmp_path / "rep",
                         tables=["table5"])
    assert ("not run: no evaluation (eval.parquet) of Ranker niqe_regression (NIQE "
            "regression) in this run") in index.read_text()


def test_histograms_need_both_levels(tmp_path):
    from ranksrgan.report.figures import ranker_histograms

    ev = pd.DataFrame({"name": ["a", "a", "b", "b"], "method": ["srgan", "esrgan"] * 2,
                       "label": [3.0, 2.8, 3.0, 2.8], "output": [1.0, 2.0, 0.5, np.nan]})
    # Ranker b has no finite esrgan output: nothing drawn
    assert ranker_histograms(ev, "a", "b", "NIQE", tmp_path / "h") == []
    ev.loc[3, "output"] = 0.7
    paths = ranker_histograms(ev, "a", "b", "NIQE", tmp_path / "h")
    assert [p.suffix for p in paths] == [".png", ".pdf"]


# ------------------------------------------------------------ 6: shortened runs

def _shortened_report(tmp_path: Path, scale: float | None) -> Path:
    inputs = make_run(tmp_path)
    cfg = {"methods": {"ranksrgan": {"kind": "network", "train_preset": "ranksrgan_niqe"},
                       "bicubic": {"kind": "bicubic"}},
           "report": {"datasets": {"PIRM-Test": {"dataset": "demo_test"}},
                      "methods": MAPPING.methods, "rankers": MAPPING.rankers,
                      "rankdata": MAPPING.rankdata}}
    if scale is not None:
        cfg["train"] = {"iteration_scale": scale}
    settings = settings_from_config(cfg, "c.yaml", str(PAPER))
    return build_report(PAPER, ReportInputs(**inputs), settings, tmp_path / "rep")


def test_shortened_run_banner_and_table_notes(tmp_path):
    index = _shortened_report(tmp_path, 0.1)
    html, md = index.read_text(), (index.parent / "index.md").read_text()
    assert "shortened run: iterations x0.1 of the paper&#x27;s" in html
    assert "> **shortened run: iterations x0.1 of the paper's**" in md
    tables = index.parent / "tables"
    note = "shortened run (iterations x0.1 of the paper's): the values of trained runs"
    # Table 2: RankSRGAN is trained (its method has a train preset); Bicubic is not
    t2 = (tables / "table2.md").read_text()
    assert f"{note} (RankSRGAN) are not at the paper's schedule" in t2
    t2c = pd.read_csv(tables / "table2.csv", keep_default_na=False)
    assert set(t2c.loc[t2c["row"] == "Bicubic", "shortened"]) == {""}
    # a Ranker's SROCC / distance: trained; the rank dataset's size is not
    assert f"{note} (NIQE rank)" in (tables / "table5.md").read_text()
    s1 = pd.read_csv(tables / "supp_table1.csv", keep_default_na=False)
    assert set(s1.loc[s1["metric"] == "Data size (k)", "shortened"]) == {""}
    assert set(s1.loc[(s1["metric"] == "SROCC") & (s1["status"] == "ok"), "shortened"]) == {
        "iterations x0.1 of the paper's"}
    # Table 1 holds no trained run of this folder: no note
    assert "shortened run" not in (tables / "table1.md").read_text()
    assert "shortened run" in (tables / "table2.tex").read_text()


def test_paper_schedule_has_no_shortened_marks(tmp_path):
    for scale in (None, 1):
        index = _shortened_report(tmp_path / str(scale), scale)
        assert "shortened run" not in index.read_text()
        assert "shortened run" not in (index.parent / "tables" / "table2.md").read_text()


def test_bad_iteration_scale_names_the_key():
    cfg = {"train": {"iteration_scale": "fast"}, "report": {"datasets": {}, "methods": {}}}
    assert _one_line(settings_from_config, cfg, "c.yaml", str(PAPER)) == (
        "c.yaml: config key 'train.iteration_scale': expected a positive number, got 'fast'")


def test_trained_methods_follow_the_sr_manifests():
    from ranksrgan.report.build import _trained

    mapping = RunMapping(trained={"srgan": "srgan_basicsr", "ranksrgan": "ranksrgan_niqe"})
    sr = pd.DataFrame({"method": ["srgan", "ranksrgan", "esrgan", "bicubic"],
                       "weights": ["SRGAN.pth", "train:ranksrgan_niqe", "train:esr", None]})
    # srgan's downloaded weights made its numbers: not a trained run; bicubic: no weights
    assert _trained(mapping, sr) == {"ranksrgan": "ranksrgan_niqe", "esrgan": "esr"}
    old = sr.assign(weights=None)  # manifests without weights names: the config decides
    assert _trained(mapping, old) == mapping.trained


# ------------------------------------------------------------ 7: no unexplained blank

def test_every_cell_says_something(tmp_path, paper):
    inputs = make_run(tmp_path)
    _write_summary(inputs, "niqe", {"e_sr1_sr2": None})
    s, r, d = _summaries(inputs)
    for name in paper.tables:
        cells = compare(_table(paper, name), s, r, d, MAPPING)
        for _, c in cells.iterrows():
            text = cell_text(c)
            assert text.split(" / ")[0], (name, c["row"], c["metric"])
            if c["status"] == "not measured":
                assert text.startswith("not measured: ") and "no reason" not in text
        w = wide(cells)
        assert (w != "").all().all(), name


def test_a_table_without_a_paper_cell_fills_it_with_a_dash(tmp_path, paper):
    values = _table(paper, "table3")
    values = values[~((values["row"] == "SRGAN") & (values["metric"] == "PSNR"))]
    cells = compare(values, pd.DataFrame(columns=["dataset", "method", "metric"]),
                    ranker_summary(pd.DataFrame(columns=["name", "output", "label"])),
                    rankdata_summary(pd.DataFrame(columns=["name", "image", "method"])),
                    RunMapping())
    assert wide(cells).loc["SRGAN", "PSNR"] == "\u2014"
