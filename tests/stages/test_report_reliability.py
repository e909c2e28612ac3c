"""Report reliability (issue 22, round 3): every problem is named, nothing is silently dropped.

- 3: a `report:` row label that is not a row of config/paper_results.yaml (RankSRGAN-n,
  VGG12) is a config error naming the key and the known labels, not a row of "not run".
- 4: every image left out of a mean (NaN value, inf value, error row, no row at all) is
  counted in the cell's note; inf never enters a mean.
- 12: config/paper_results.yaml is checked against a JSON schema on load: bad shapes are one
  line naming the file and the key path.
- 17: a Ranker with no validation patches reads "not measured: no validation patches";
  names reach index.md / .md / .tex / .html as text, escaped for each format.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ranksrgan import paper_results
from ranksrgan.config import load_config, validate_config
from ranksrgan.errors import RankSRGANError
from ranksrgan.report.paper import load_paper
from ranksrgan.report.render import cell_text, tex_escape, to_html, to_latex, to_markdown
from ranksrgan.report.tables import RunMapping, compare, ranker_summary, score_summary
from tests.support import REPO
from tests.support.configs import DELETE, set_key
from tests.support.report_inputs import MAPPING, PAPER, build_small_report, make_run, score_rows

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
CONFIGS = sorted(p for p in (REPO / "config").glob("*.yaml") if p.name != "paper_results.yaml")
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def _demo() -> dict:
    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


def _one_line_error(fn, *args) -> str:
    with pytest.raises(RankSRGANError) as exc:
        fn(*args)
    msg = str(exc.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


# ------------------------------------------------------------- 3: report row labels checked

def _rename(section: str, old: str, new: str):
    def mutate(cfg):
        sec = cfg["report"][section]
        sec[new] = sec.pop(old)
    return mutate


LABEL_TYPOS = {
    # name: (mutation, key in the message, a known label the message lists)
    "lower-case N": (_rename("methods", "RankSRGAN-N", "RankSRGAN-n"),
                     "report.methods.RankSRGAN-n", "RankSRGAN-N"),
    "VGG12": (_rename("rankers", "VGG-12", "VGG12"), "report.rankers.VGG12", "VGG-12"),
    "rankdata row": (_rename("rankdata", "RankSRGAN-R-D2", "RankSRGAN-RD2"),
                     "report.rankdata.RankSRGAN-RD2", "RankSRGAN-R-D2"),
    "paper dataset": (_rename("datasets", "PIRM-Test", "PIRM-test"),
                      "report.datasets.PIRM-test", "PIRM-Test"),
    # a row of the paper, but of no table a Ranker fills: it would fill no cell either
    "row without Ranker metrics": (lambda cfg: cfg["report"]["rankers"].update(SRGAN="niqe"),
                                   "report.rankers.SRGAN", "VGG-12"),
}


@pytest.mark.parametrize("case", sorted(LABEL_TYPOS))
def test_report_label_not_in_paper_is_a_config_error(case):
    """Before: rc 0 and "not run" in every cell of the row (issue 22.3)."""
    mutate, key, known = LABEL_TYPOS[case]
    cfg = _demo()
    mutate(cfg)
    msg = _one_line_error(validate_config, cfg, SCHEMA, "my/demo.yaml")
    assert msg.startswith(f"my/demo.yaml: config key '{key}': unknown "), msg
    assert "config/paper_results.yaml" in msg
    listed = msg.split("(known: ", 1)[1]
    assert known in listed.split(", ") or f"{known})" in listed, msg


def test_report_label_typo_stops_load_config(tmp_path):
    cfg = _demo()
    LABEL_TYPOS["lower-case N"][0](cfg)
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    msg = _one_line_error(load_config, path, SCHEMA)
    assert msg.startswith(f"{path}: config key 'report.methods.RankSRGAN-n'")
    assert "RankSRGAN-N, RankSRGAN-NM, RankSRGAN-PI" in msg  # the known labels, sorted


@pytest.mark.parametrize("config_file", [p.name for p in CONFIGS])
def test_every_shipped_config_loads(config_file):
    """Every config of config/ maps only labels the paper's tables have."""
    cfg = load_config(REPO / "config" / config_file, SCHEMA)
    assert cfg["report"]["paper_results"] == "config/paper_results.yaml"


def test_labels_are_checked_from_any_working_directory(tmp_path, monkeypatch):
    """A run with `--directory` elsewhere (no config/ there) still checks the labels against
    the checkout's paper results; a file that exists nowhere is named with its key."""
    monkeypatch.chdir(tmp_path)
    cfg = _demo()
    validate_config(copy.deepcopy(cfg), SCHEMA, "demo.yaml")
    LABEL_TYPOS["VGG12"][0](cfg)
    assert "'report.rankers.VGG12'" in _one_line_error(validate_config, cfg, SCHEMA, "demo.yaml")
    cfg = _demo()
    cfg["report"]["paper_results"] = "config/no_such_paper.yaml"
    msg = _one_line_error(validate_config, cfg, SCHEMA, "demo.yaml")
    assert msg == ("config/no_such_paper.yaml: paper results file not found "
                   "(config key 'report.paper_results')")


def test_config_load_validates_the_paper_results_file(tmp_path):
    """The config's paper results are schema-checked when the config loads (DAG load)."""
    data = yaml.safe_load(PAPER.read_text())
    data["tables"]["table1"]["metrics"] = "NIQE"
    bad = tmp_path / "paper.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False))
    cfg = _demo()
    cfg["report"]["paper_results"] = str(bad)
    msg = _one_line_error(validate_config, cfg, SCHEMA, "demo.yaml")
    assert msg.startswith(f"{bad}: key 'tables.table1.metrics': expected an array"), msg


# ------------------------------------------------------------- 12: paper_results schema

def _paper_with(mutate) -> dict:
    data = yaml.safe_load(PAPER.read_text())
    mutate(data)
    return data


PAPER_CASES = {
    # name: (mutation, expected message after "<file>: ")
    "rows a list": (set_key("tables.table1.rows", [1, 2]),
                    "key 'tables.table1.rows': expected an object, got [1, 2]"),
    "metrics a string": (set_key("tables.table1.metrics", "NIQE"),
                         "key 'tables.table1.metrics': expected an array, got 'NIQE'"),
    "value a string": (set_key("tables.table3.rows.SRGAN.NIQE", "2.70"),
                       "key 'tables.table3.rows.SRGAN.NIQE': expected a number, got '2.70'"),
    "value a bool": (set_key("tables.table3.rows.SRGAN.NIQE", True),
                     "key 'tables.table3.rows.SRGAN.NIQE': expected a number, got True"),
    "value NaN": (set_key("tables.table3.rows.SRGAN.NIQE", float("nan")),
                  "key 'tables.table3.rows.SRGAN.NIQE': nan is not a finite number"),
    "nested rows flat": (set_key("tables.table2.rows.Bicubic", {"NIQE": 7.61}),
                         "key 'tables.table2.rows.Bicubic.NIQE': expected an object, got 7.61"),
    "flat rows nested": (set_key("tables.table3.rows.SRGAN", {"PIRM-Test": {"NIQE": 2.7}}),
                         "key 'tables.table3.rows.SRGAN.PIRM-Test': expected a number"),
    "unknown table key": (set_key("tables.table1.colour", "red"),
                          "key 'tables.table1.colour (unknown key)'"),
    "unknown top-level key": (set_key("tabels", {}), "key 'tabels (unknown key)'"),
    "missing rows": (set_key("tables.table1.rows", DELETE),
                     "key 'tables.table1.rows (missing key)'"),
    "missing tables": (set_key("tables", DELETE), "key 'tables (missing key)'"),
    "bad better": (set_key("better.NIQE", "smaller"), "key 'better.NIQE': 'smaller' is not one of"),
    "metric without better": (set_key("tables.table1.metrics", ["NIQE", "PSNR", "LPIPS"]),
                              "key 'tables.table1.metrics[2]': metric 'LPIPS' has no entry in "
                              "better"),
    "row metric not in metrics": (set_key("tables.table3.rows.SRGAN.PI", 2.0),
                                  "key 'tables.table3.rows.SRGAN.PI': metric 'PI' is not in "
                                  "tables.table3.metrics (NIQE, PSNR)"),
    "row dataset not in datasets": (set_key("tables.table2.rows.Bicubic.Urban100", {"NIQE": 1.0}),
                                    "key 'tables.table2.rows.Bicubic.Urban100': dataset "
                                    "'Urban100' is not in tables.table2.datasets"),
    "dataset and datasets": (set_key("tables.table2.dataset", "Set14"),
                             "key 'tables.table2': give exactly one of dataset"),
    "neither dataset key": (set_key("tables.table1.dataset", DELETE),
                            "key 'tables.table1': give exactly one of dataset"),
    "note of no row": (set_key("tables.table7.row_notes.RankSRGAN-M3", "L_P"),
                       "key 'tables.table7.row_notes.RankSRGAN-M3': 'RankSRGAN-M3' is not a row"),
    "table name a path": (lambda d: d["tables"].update({"../evil": d["tables"]["table1"]}),
                          "key 'tables': '../evil' does not match"),
    "setup item without path": (set_key("setup.0.path", DELETE),
                                "key 'setup[0].path (missing key)'"),
    "not a mapping": (lambda d: (d.clear()), "key 'better (missing key)'"),
}


@pytest.mark.parametrize("case", sorted(PAPER_CASES))
def test_paper_results_bad_shapes_name_file_and_key(tmp_path, case):
    """Before: `rows: [1, 2]` was a traceback, `metrics: NIQE` 'better.N: must be one of'."""
    mutate, expected = PAPER_CASES[case]
    bad = tmp_path / "paper_results.yaml"
    bad.write_text(yaml.safe_dump(_paper_with(mutate), sort_keys=False))
    for load in (load_paper, paper_results.load):
        msg = _one_line_error(load, bad)
        assert msg.startswith(f"{bad}: {expected}"), msg


def test_paper_results_top_level_list_and_bad_yaml(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("- 1\n- 2\n")
    assert _one_line_error(load_paper, bad) == f"{bad}: key '<top level>': expected an object, " \
                                               "got [1, 2]"
    bad.write_text("tables: [1\n")
    assert _one_line_error(load_paper, bad).startswith(f"{bad}: invalid YAML")
    assert _one_line_error(load_paper, tmp_path / "no.yaml") == \
        f"{tmp_path / 'no.yaml'}: paper results file not found"


def test_paper_results_schema_ships_with_the_package():
    """The package's schema is the workflow's (a link in the checkout, a copy in a wheel)."""
    shipped = paper_results.schema_file()
    assert shipped.read_text() == (REPO / "workflow/schemas/paper_results.schema.yaml").read_text()
    link = REPO / "src/ranksrgan/schemas/paper_results.schema.yaml"
    assert link.is_symlink() and link.resolve() == \
        (REPO / "workflow/schemas/paper_results.schema.yaml").resolve()
    paper_results.load(PAPER)  # the shipped file is valid


# ------------------------------------------------------------- 4: excluded images counted

def _cell(cells, row, metric, ds="PIRM-Test"):
    return cells[(cells["row"] == row) & (cells["dataset"] == ds)
                 & (cells["metric"] == metric)].iloc[0]


def _table2(scores: pd.DataFrame, images=None):
    paper = load_paper(PAPER)
    mapping = RunMapping(datasets={"PIRM-Test": "d"},
                         methods={"SRGAN": "srgan", "Bicubic": "bicubic"})
    empty_r = ranker_summary(pd.DataFrame(columns=["name", "output", "label"]))
    return compare(paper.values[paper.values["table"] == "table2"],
                   score_summary(scores, images), empty_r,
                   pd.DataFrame(columns=["name", "positions"]), mapping)


def test_nan_value_without_error_is_counted():
    """Table 2 PSNR over 3 images, one NaN with an empty error: before, mean of 2 (23.47
    instead of 23.60) without any note."""
    scores = score_rows("d", "srgan", {"psnr": [23.0, np.nan, 23.94]})
    assert (scores["error"] == "").all()
    s = score_summary(scores).set_index("metric")
    assert s.loc["psnr", "n"] == 2 and s.loc["psnr", "n_failed"] == 1
    assert s.loc["psnr", "excluded"] == "NaN: im1"
    c = _cell(_table2(scores), "SRGAN", "PSNR")
    assert c["status"] == "ok" and c["ours"] == pytest.approx(23.47)
    assert c["warning"].startswith("1 of 3 images failed, not in the mean (NaN: im1)")
    md = to_markdown(_table2(scores), "T2", "c")
    assert "- SRGAN PIRM-Test PSNR: 1 of 3 images failed, not in the mean (NaN: im1)" in md


def test_inf_never_enters_a_mean():
    """Before: an inf value made the mean inf, shown as "inf (+inf)"."""
    scores = score_rows("d", "srgan", {"niqe": [3.0, np.inf, 4.0], "psnr": [25, -np.inf, 26]})
    s = score_summary(scores).set_index("metric")
    assert s.loc["niqe", "value"] == pytest.approx(3.5) and s.loc["niqe", "n_failed"] == 1
    assert s.loc["niqe", "excluded"] == "inf: im1" and s.loc["psnr", "excluded"] == "inf: im1"
    cells = _table2(scores)
    assert np.isfinite(cells["ours"].dropna()).all()
    for style in ("plain", "md", "tex", "html"):
        assert "inf" not in cell_text(_cell(cells, "SRGAN", "NIQE"), style)
    assert "1 of 3 images failed" in _cell(cells, "SRGAN", "NIQE")["warning"]
    # all images infinite (HR's PSNR against itself): no mean at all, said so
    hr = score_summary(score_rows("d", "HR", {"psnr": [np.inf, np.inf]})).iloc[0]
    assert np.isnan(hr["value"]) and hr["n"] == 0 and hr["n_failed"] == 2


def test_every_reason_is_counted_once_per_image():
    """An error row, a NaN, an inf and an image without a row: four images left out."""
    full = score_rows("d", "bicubic", {"niqe": [7.0, 7.1, 7.2, 7.3, 7.4, 7.5]})
    srgan = score_rows("d", "srgan", {"niqe": [3.0, 3.1, np.nan, np.inf, 3.3, 0.0]},
                       errors={("niqe", 1): "im1.png: too small"})
    srgan = srgan[srgan["image"] != "im5"]  # its row is missing altogether
    s = score_summary(pd.concat([full, srgan], ignore_index=True)).set_index("method")
    r = s.loc["srgan"]
    assert r["n"] == 2 and r["value"] == pytest.approx(3.15) and r["n_failed"] == 4
    assert r["excluded"] == "error: im1; NaN: im2; inf: im3; missing: im5"
    assert s.loc["bicubic", "n_failed"] == 0 and s.loc["bicubic", "excluded"] == ""
    # the data manifest's image list: an image no method has a row for is missing too
    s = score_summary(full, {"d": [f"im{i}" for i in range(8)]}).iloc[0]
    assert s["n"] == 6 and s["n_failed"] == 2 and s["excluded"] == "missing: im6, im7"
    many = score_summary(full, {"d": [f"im{i}" for i in range(12)]}).iloc[0]
    assert many["excluded"] == "missing: im10, im11, im6 and 3 more"


def test_report_counts_an_image_missing_from_the_scores(tmp_path):
    """Through build_report: the data manifest has 2 images, bicubic's score Parquet 1."""
    inputs = make_run(tmp_path, with_rank=False)
    p = Path(inputs["scores"][0])
    df = pd.read_parquet(p)
    assert set(df["method"]) == {"bicubic"}
    df[df["image"] != "im1"].to_parquet(p)
    index = build_small_report(tmp_path, inputs, tmp_path / "report")
    t2 = pd.read_csv(index.parent / "tables" / "table2.csv", keep_default_na=False)
    c = t2[(t2["row"] == "Bicubic") & (t2["dataset"] == "PIRM-Test") & (t2["metric"] == "NIQE")]
    assert c.iloc[0]["warning"] == "1 of 2 images failed, not in the mean (missing: im1)"
    assert "Bicubic PIRM-Test NIQE: 1 of 2 images failed" in (index.parent / "index.md").read_text()


def test_ranker_outputs_nan_or_inf_are_left_out():
    ev = pd.DataFrame({"name": "r", "method": ["srgan", "esrgan"] * 3, "image": "a",
                       "x": [0, 0, 1, 1, 2, 2], "y": 0, "label": [2, 3, 2, 3, 2, 3],
                       "output": [-2.0, -3.0, -2.0, np.inf, -2.0, -3.0]})
    r = ranker_summary(ev).iloc[0]
    assert r["n"] == 5 and r["n_excluded"] == 1 and np.isfinite(r["e_sr1_sr2"])
    assert r["e_sr1_sr2"] == pytest.approx(1.0)


# ------------------------------------------------------------- 17: no patches, hostile names

def _ranker_cells(tmp_path, ev: pd.DataFrame):
    from ranksrgan.report.inputs import read_ranker_evals

    p = tmp_path / "ranker" / "niqe" / "eval.parquet"
    p.parent.mkdir(parents=True)
    ev.to_parquet(p)
    evals = read_ranker_evals([p])
    rs = ranker_summary(evals, names=[p.parent.name])
    paper = load_paper(PAPER)
    return compare(paper.values[paper.values["table"] == "supp_table2"], pd.DataFrame(
        columns=["dataset", "method", "metric"]), rs, pd.DataFrame(columns=["name"]),
        RunMapping(rankers={"VGG-12": "niqe"}))


def test_ranker_without_validation_patches_says_so(tmp_path):
    """Before: "not run", as if the Ranker stage had not been part of the run."""
    cells = _ranker_cells(tmp_path, pd.DataFrame({"output": pd.Series(dtype=float),
                                                  "label": pd.Series(dtype=float)}))
    c = _cell(cells, "VGG-12", "SROCC", "rank dataset (validation)")
    assert c["status"] == "not measured" and c["warning"] == "no validation patches"
    assert np.isnan(c["ours"])
    assert cell_text(c) == "not measured: no validation patches / 0.88"
    assert "not measured: no validation patches" in to_html(cells)
    assert _cell(cells, "VGG-8", "SROCC", "rank dataset (validation)")["status"] == "not run"


def test_report_of_a_ranker_without_patches(tmp_path):
    """Through build_report: the Ranker's eval.parquet was passed but holds no patch."""
    inputs = make_run(tmp_path)
    ev = Path(inputs["rankers"][0])
    pd.read_parquet(ev).iloc[0:0].to_parquet(ev)
    index = build_small_report(tmp_path, inputs, tmp_path / "report")
    t = pd.read_csv(index.parent / "tables" / "supp_table2.csv", keep_default_na=False)
    c = t[(t["row"] == "VGG-12") & (t["metric"] == "SROCC")].iloc[0]
    assert (c["status"], c["warning"]) == ("not measured", "no validation patches")
    md = (index.parent / "tables" / "supp_table2.md").read_text()
    assert ("| VGG-12 | not measured: parameter count not recorded by this Ranker run / 13,734 "
            "| not measured: no validation patches / ") in md


def test_ranker_with_only_nan_outputs_failed(tmp_path):
    cells = _ranker_cells(tmp_path, pd.DataFrame({"output": [np.nan, np.nan],
                                                  "label": [1.0, 2.0]}))
    c = _cell(cells, "VGG-12", "SROCC", "rank dataset (validation)")
    assert c["status"] == "failed" and "2 of 2 validation patches" in c["warning"]


def test_mini_study_ranker_line_without_patches():
    from ranksrgan.report.mini_study import ranker_line

    rs = ranker_summary(pd.DataFrame(columns=["name", "output", "label"]), names=["niqe"])
    assert ranker_line(rs, pd.DataFrame(columns=["name"]), "niqe") == \
        "Ranker niqe: not measured (no validation patches in its evaluation)."


def test_escapers():
    from ranksrgan.report.render import md_escape

    assert md_escape("a|b <i>&`*[x]~$\\\nz") == \
        "a&#124;b &lt;i&gt;&amp;\\`\\*\\[x\\]\\~\\$&#92; z"
    assert tex_escape("\\ { } $ & # ^ _ ~ % < >") == (
        r"\textbackslash{} \{ \} \$ \& \# \textasciicircum{} \_ \textasciitilde{} \% "
        r"\textless{} \textgreater{}")


def _hostile_paper(tmp_path: Path) -> Path:
    """The paper results with a hostile row label, note, caption and metric name."""
    data = yaml.safe_load(PAPER.read_text())
    t3 = data["tables"]["table3"]
    t3["caption"] = f"caption {HOSTILE} 50%_$x$"
    t3["rows"] = {(HOSTILE if r == "SRGAN" else r): v for r, v in t3["rows"].items()}
    t3["row_notes"] = {HOSTILE: "L_P | {~^#&\\}"}
    path = tmp_path / "paper_results.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _md_per_table_columns_agree(md: str) -> bool:
    """Within each Markdown table (consecutive ``| `` lines) every row has the header's
    columns: its pipes (an escaped pipe is an entity, not a pipe)."""
    tables, cur = [], []
    for ln in [*md.splitlines(), ""]:
        if ln.startswith("| "):
            cur.append(ln)
        elif cur:
            tables.append(cur)
            cur = []
    return all(len({r.count("|") for r in t}) == 1 for t in tables)


def _assert_md_safe(md: str, where: str) -> None:
    """No raw HTML tag from a name, and no Markdown table row split by a name's pipe."""
    assert "<script" not in md and "<img" not in md, where
    assert _md_per_table_columns_agree(md), where


def test_table_renderers_escape_hostile_paper_labels(tmp_path):
    """Before: raw <script> / <img onerror> in the .md table, raw `_ % $ & # ^ ~ \\` of a
    row note in the .tex table (LaTeX stops on them), and a pipe split a Markdown row."""
    paper = load_paper(_hostile_paper(tmp_path))
    t3 = paper.values[paper.values["table"] == "table3"]
    empty = pd.DataFrame(columns=["dataset", "method", "metric"])
    cells = compare(t3, empty, ranker_summary(pd.DataFrame(columns=["name", "output", "label"])),
                    pd.DataFrame(columns=["name"]), RunMapping())
    caption = paper.tables["table3"]["caption"]
    md = to_markdown(cells, f"Table 3 {HOSTILE}", caption)
    _assert_md_safe(md, "table3.md")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in md
    assert r"L_P &#124; {\~^#&amp;&#92;}" in md and r"50%_\$x\$" in md
    tex = to_latex(cells, caption, "table3")
    assert "<script" not in tex and "<img" not in tex
    assert r"\textless{}script\textgreater{}alert(1)" in tex
    assert r"L\_P $|$ \{\textasciitilde{}\textasciicircum{}\#\&\textbackslash{}\}" in tex
    assert r"50\%\_\$x\$" in tex
    assert re.search(r"(?<!\\)[%#_^~]", tex) is None, tex  # every special escaped
    html = to_html(cells)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)" in html and "L_P | {~^#&amp;\\}" in html


EVIL = f"evil{HOSTILE}$x^$"  # a method name from a score table ($x^$: mathtext in a figure)


# long hostile names leave matplotlib no room for tight_layout: a warning, not a failure
@pytest.mark.filterwarnings("ignore:Tight layout not applied:UserWarning")
def test_report_pages_escape_hostile_names(tmp_path):
    """A whole report with hostile names from every source: the score table's method, image
    and stand-in note, a preset, the config's title and the paper's row label and caption.
    Before: index.md and the .md / .tex tables carried them raw (index.html escaped them)."""
    import json

    from ranksrgan.report.build import ReportInputs, ReportSettings, build_report
    from ranksrgan.report.render import md_escape

    inputs = make_run(tmp_path)
    scores = score_rows("demo_test", EVIL, {"niqe": [2.0, 2.2, np.nan], "psnr": [25, 26, 27]},
                        note=f"note {HOSTILE}")
    scores.loc[scores["image"] == "im2", "image"] = f"img{HOSTILE}"
    p = tmp_path / "results" / "scores" / "demo_test" / "evil.parquet"
    scores.to_parquet(p)
    inputs["scores"].append(p)
    g = Path(inputs["train"][0])  # the srgan preset's G.json, renamed
    meta = json.loads(g.read_text())
    g.write_text(json.dumps({**meta, "preset": f"srgan{HOSTILE}"}))
    settings = ReportSettings(
        mapping=RunMapping(datasets={"PIRM-Test": "demo_test"},
                         dataset_stand_ins={"PIRM-Test": f"photos {HOSTILE}"},
                         methods={**MAPPING.methods, HOSTILE: EVIL}, rankers=MAPPING.rankers,
                         rankdata=MAPPING.rankdata),
        curves={f"SRGAN {HOSTILE}$x^$": f"srgan{HOSTILE}"}, crop_dataset="demo_test", crop_size=32,
        title=f"Report {HOSTILE}", config_path=f"config/{HOSTILE}.yaml",
        extra_stand_ins=[f"extra {HOSTILE}"],
    )
    index = build_report(_hostile_paper(tmp_path), ReportInputs(**inputs), settings,
                         tmp_path / "report")
    out = index.parent
    md = (out / "index.md").read_text()
    _assert_md_safe(md, "index.md")
    assert f"# Report {md_escape(HOSTILE)}" in md
    assert md_escape(f"score rows ({EVIL}): note {HOSTILE}") in md
    assert md_escape(f"img{HOSTILE}") in md  # the NaN image, named in table 3's footnote
    for f in sorted((out / "tables").glob("*.md")):
        text = f.read_text()
        _assert_md_safe(text, f.name)
    tex = (out / "tables" / "table3.tex").read_text()
    assert "<script" not in tex and "<img" not in tex
    ours = ("$^\\dagger$", "$|$", "$-$")  # the renderer's own math
    for text in ours:
        tex = tex.replace(text, "")
    assert re.search(r"(?<!\\)[%#_^~$]", tex) is None, tex
    html = index.read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert html.count("<script>") == 1  # the page's own image check
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    t3 = pd.read_csv(out / "tables" / "table3.csv")
    row = t3[(t3["row"] == HOSTILE) & (t3["metric"] == "NIQE")].iloc[0]
    assert row["ours"] == pytest.approx(2.1) and "1 of 3 images failed" in row["warning"]
