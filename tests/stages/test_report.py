"""Report stage: paper numbers, table builders on hand-made Parquet inputs, rendering, build.

The inputs are built by hand (``tests.support.report_inputs.make_run``): score Parquets with
a stand-in (synthetic NRQM) and an error row, a training curve with its G.json, SR images
cropped from a real scikit-image photo, a rank index and a Ranker evaluation. Missing runs are
simply files not passed, as the rule does when a stage is not enabled.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ranksrgan.report.paper import load_paper
from ranksrgan.report.render import cell_text, to_latex, to_markdown
from ranksrgan.report.tables import (
    RunMapping,
    compare,
    rankdata_summary,
    ranker_summary,
    score_summary,
    summary_table,
)
from tests.support import REPO
from tests.support.report_inputs import (
    MAPPING,
    PAPER,
    SYNTH,
    build_small_report,
    make_run,
    score_rows,
)

PAPER_TXT = sorted((REPO.parent / "shared" / "papers").glob("000_*.txt"))


@pytest.fixture(scope="module")
def paper():
    return load_paper(PAPER)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    return root, make_run(root)


def _summaries(inputs):
    from ranksrgan.report.inputs import read_rankdata, read_ranker_evals, read_scores

    scores = read_scores(inputs["scores"])
    index, _ = read_rankdata(inputs["rankdata"])
    return (score_summary(scores), ranker_summary(read_ranker_evals(inputs["rankers"])),
            rankdata_summary(index))


# ----------------------------------------------------------------------------- paper numbers

@pytest.mark.skipif(not PAPER_TXT, reason="paper text not available")
def test_paper_numbers_appear_in_the_paper_text(paper):
    """Spot check: values of every table occur in the paper's text on the row's line."""
    text = PAPER_TXT[0].read_text()
    v = paper.values.set_index(["table", "row", "dataset", "metric"])["paper"]
    assert v["table2", "RankSRGAN", "PIRM-Test", "PI"] == 1.95
    assert v["table2", "Bicubic", "BSD100", "NIQE"] == 7.60
    assert v["table1", "SRResNet", "PIRM-Test", "NIQE"] == 5.968
    assert v["table4", "RankSRGAN-M", "PIRM-Test", "10-Ma"] == 1.38
    assert v["table7", "RankSRGAN-M2", "PIRM-Test", "PSNR"] == 26.62
    assert v["supp_table1", "RankSRGAN-R-D1", "PIRM-Test", "SROCC"] == 0.78
    assert list(v.loc["supp_table2"].xs("SROCC", level="metric")) == [0.83, 0.88, 0.88]
    # Table 2 printed line by line: "NIQE 7.61 6.92 6.12 3.82 3.28 3.28" under Set14, etc.
    t2 = paper.values[paper.values["table"] == "table2"]
    order = ["Bicubic", "FSRCNN", "SRResNet", "SRGAN", "ESRGAN", "RankSRGAN"]
    for (ds, metric), g in t2.groupby(["dataset", "metric"]):
        nums = " ".join(f"{x:.2f}" for x in g.set_index("row").loc[order, "paper"])
        assert f"{metric} {nums}" in text, (ds, metric)
    # Tables 3-7: each row printed as "<row> <values...>" (labels as in the text)
    printed = {"RankSRGAN-N": "RankSRGANN", "RankSRGAN-M": "RankSRGANM",
               "RankSRGAN-PI": "RankSRGANPI"}
    for table in ("table4", "table6"):
        t = paper.values[paper.values["table"] == table]
        for row, g in t.groupby("row", sort=False):
            nums = " ".join(f"{x:.2f}" for x in g["paper"])
            assert f"{printed.get(row, row)} {nums}" in text, (table, row)
    assert "Table 3. Comparison" in text and "NIQE 2.70 2.51 2.58" in text
    assert re.search(r"Ma rank 0\.15", text) and v["table5", "Ma rank", "rank dataset (validation)",
                                                    "E|SR1-SR2|"] == 0.15


def test_paper_file_errors_name_the_key(tmp_path):
    from ranksrgan.errors import RankSRGANError

    bad = tmp_path / "p.yaml"
    bad.write_text("better: {NIQE: lower}\ntables:\n  t:\n    source: s\n    caption: c\n"
                   "    dataset: D\n    metrics: [NIQE]\n    rows: {A: {NIQE: fast}}\n")
    with pytest.raises(RankSRGANError,
                       match=r"key 'tables\.t\.rows\.A\.NIQE': expected a number, got 'fast'"):
        load_paper(bad)


# ----------------------------------------------------------------------------- builders

def test_score_summary_means_errors_and_stand_ins(run):
    _, inputs = run
    s, _, _ = _summaries(inputs)
    s = s.set_index(["method", "metric"])
    # srgan's NIQE of im1 failed: mean of the one good image, the failure counted
    assert s.loc[("srgan", "niqe"), "value"] == 3.0
    assert s.loc[("srgan", "niqe"), "n_failed"] == 1
    assert s.loc[("bicubic", "10-ma"), "value"] == pytest.approx(10 - 3.25)
    assert s.loc[("bicubic", "rmse"), "value"] == pytest.approx(
        np.mean([255 / 10 ** (26 / 20), 255 / 10 ** (27 / 20)]))
    # the summaries carry the one stand-in encoding: the note, "" = not a stand-in
    assert s.loc[("bicubic", "pi"), "stand_in"] == SYNTH
    assert s.loc[("bicubic", "psnr"), "stand_in"] == ""
    assert s.loc[("srgan", "ma"), "stand_in"] == f"tiny demo run; {SYNTH}"


def test_compare_fills_what_ran_and_says_not_run_elsewhere(run, paper):
    _, inputs = run
    s, r, d = _summaries(inputs)
    t2 = compare(paper.values[paper.values["table"] == "table2"], s, r, d, MAPPING)
    assert len(t2) == 6 * 3 * 3  # every published cell, none invented
    c = t2.set_index(["row", "dataset", "metric"])
    ok = c.loc[("RankSRGAN", "PIRM-Test", "NIQE")]
    assert ok["status"] == "ok" and ok["ours"] == pytest.approx(2.5)
    assert ok["delta"] == pytest.approx(2.5 - 2.51)
    assert ok["stand_in"] and "demo photos" in ok["stand_in_note"]
    # FSRCNN is not mapped, Set14 not run: "not run", no number
    for key in [("FSRCNN", "PIRM-Test", "NIQE"), ("SRGAN", "Set14", "PSNR")]:
        assert c.loc[key, "status"] == "not run" and np.isnan(c.loc[key, "ours"])
        assert np.isnan(c.loc[key, "delta"])
    assert "1 of 2 images failed" in c.loc[("SRGAN", "PIRM-Test", "NIQE"), "warning"]
    # best per column: ours among the run rows, paper among the paper's rows
    assert c.loc[("RankSRGAN", "PIRM-Test", "NIQE"), "best_ours"]
    assert not c.loc[("SRGAN", "PIRM-Test", "NIQE"), "best_ours"]
    assert c.loc[("Bicubic", "PIRM-Test", "PSNR"), "best_ours"]  # higher PSNR is better
    assert c.loc[("SRResNet", "PIRM-Test", "PSNR"), "best_paper"]
    assert c.loc[("ESRGAN", "Set14", "NIQE"), "best_paper"]  # a tie: both marked
    assert c.loc[("RankSRGAN", "Set14", "NIQE"), "best_paper"]


def test_compare_ranker_and_rankdata_cells(run, paper):
    _, inputs = run
    s, r, d = _summaries(inputs)
    # outputs decrease with the level exactly as labels: SROCC over patches vs label
    rs = r.set_index("name").loc["niqe"]
    assert rs["srocc"] == pytest.approx(pd.Series(
        pd.read_parquet(inputs["rankers"][0])["output"]).rank().corr(
        pd.read_parquet(inputs["rankers"][0])["label"].rank()))
    # E|SR1-SR2|: srgan (level 2) vs esrgan (level 3) outputs differ by exactly 1 everywhere
    assert rs["e_sr1_sr2"] == pytest.approx(1.0)
    t5 = compare(paper.values[paper.values["table"] == "table5"], s, r, d, MAPPING)
    c = t5.set_index("row")
    assert c.loc["NIQE rank", "ours"] == pytest.approx(1.0)
    assert c.loc["NIQE regression", "status"] == "not run"
    s1 = compare(paper.values[paper.values["table"] == "supp_table1"], s, r, d, MAPPING)
    c = s1.set_index(["row", "metric"])
    assert c.loc[("RankSRGAN-R-D2", "Data size (k)"), "ours"] == pytest.approx(4 / 1000)
    assert c.loc[("RankSRGAN-R-D1", "SROCC"), "status"] == "not run"
    s2 = compare(paper.values[paper.values["table"] == "supp_table2"], s, r, d, MAPPING)
    params = s2[s2["metric"] == "Params (K)"].set_index("row")
    # VGG-12's Ranker ran without recording its size: says so; VGG-8/16 were not run
    assert params.loc["VGG-12", "status"] == "not measured"
    assert params.loc["VGG-12", "warning"] == "parameter count not recorded by this Ranker run"
    assert set(params.loc[["VGG-8", "VGG-16"], "status"]) == {"not run"}


def test_tables_without_any_run_are_all_not_run(paper):
    from ranksrgan.report.tables import CELL_COLUMNS

    empty = pd.DataFrame(columns=["dataset", "method", "metric", "value", "n", "n_failed",
                                  "stand_in", "protocol"])
    for name in paper.tables:
        cells = compare(paper.values[paper.values["table"] == name], empty,
                        ranker_summary(pd.DataFrame(columns=["name", "output", "label"])),
                        rankdata_summary(pd.DataFrame(columns=["name", "image", "method"])),
                        RunMapping())
        assert list(cells.columns) == CELL_COLUMNS
        assert set(cells["status"]) <= {"not run", "not measured"}, name
        assert cells["ours"].isna().all()


def test_rendering_marks_best_stand_in_and_not_run(run, paper):
    _, inputs = run
    s, r, d = _summaries(inputs)
    cells = compare(paper.values[paper.values["table"] == "table2"], s, r, d, MAPPING)

    def cell(row, ds, metric):
        return cells[(cells["row"] == row) & (cells["dataset"] == ds)
                     & (cells["metric"] == metric)].iloc[0]

    assert cell_text(cell("RankSRGAN", "PIRM-Test", "NIQE"), "md") == \
        "**2.50**\u2020 / **2.51** (-0.01)"
    assert cell_text(cell("FSRCNN", "BSD100", "PI"), "md") == "not run / 6.17"
    md = to_markdown(cells, "Table 2", "cap")
    assert "| Method | Set14 NIQE |" in md and "\u2020 stand-in: tiny demo run" in md
    tex = to_latex(cells, "Average NIQE_x", "table2")
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\textbf{2.50}$^\dagger$" in tex
    assert r"NIQE\_x" in tex and "\u2020" not in tex
    t7 = compare(paper.values[paper.values["table"] == "table7"], s, r, d, MAPPING)
    assert "L_P + L_R" in to_markdown(t7, "T7", "c")  # the paper's loss column is kept


def test_summary_table_and_cli(run, tmp_path):
    root, inputs = run
    from ranksrgan.report.inputs import read_scores

    t = summary_table(read_scores(inputs["scores"]))
    assert t.loc[("demo_test", "srgan"), "niqe"] == 3.0
    assert t.loc[("demo_test", "srgan"), "failed"] == 1
    out = subprocess.run([sys.executable, "-m", "ranksrgan", "report", "summary",
                          str(root / "results")], capture_output=True, text=True, check=True)
    assert "ranksrgan" in out.stdout and "stand_in" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "ranksrgan", "report", "summary",
                          str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.startswith("error: ") and "scores" in bad.stderr
    wrapper = subprocess.run([sys.executable, str(REPO / "scripts" / "summarise_scores.py"),
                              str(root / "results")], capture_output=True, text=True, check=True)
    assert wrapper.stdout == out.stdout


def test_report_package_does_not_import_torch():
    code = ("import sys, ranksrgan.report.build, ranksrgan.report.cli, ranksrgan.report.figures;"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_build_report_writes_tables_figures_and_page(run, tmp_path):
    root, inputs = run
    index = build_small_report(root, inputs, tmp_path / "report")
    out = index.parent
    for name in ("table1", "table2", "table7", "supp_table1", "supp_table2"):
        for ext in ("csv", "md", "tex"):
            assert (out / "tables" / f"{name}.{ext}").stat().st_size > 0
    for fig in ("fig6_convergence", "fig5_crops", "ranker_srocc", "score_distributions",
                "rankdata_stats", "pd_plane"):
        png = out / "figures" / f"{fig}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", fig
        assert (out / "figures" / f"{fig}.pdf").read_bytes()[:5] == b"%PDF-"
        assert f"figures/{fig}.png" in index.read_text()
    html = index.read_text()
    md = (out / "index.md").read_text()
    # the banner names every stand-in source: score notes, G.json labels, the dataset
    for text in (SYNTH, "random perceptual weights", "demo_test stands in for PIRM-Test"):
        assert text in html and text in md
    # setup vs paper comes from the config: 40 iterations where the paper says 600000
    assert "RankSRGAN iterations" in md and "| 40 | 600000 | 500000 | DIFFERS |" in md
    assert "Adam betas" in md and "as authors&#x27; code" in html
    assert "ESRGAN_SRx4-ff704c30.pth" in md
    t2 = pd.read_csv(out / "tables" / "table2.csv")
    # 3 methods x 3 metrics ran on (the stand-in for) PIRM-Test; srgan's NIQE from 1 image
    assert (t2["status"] == "not run").sum() == 54 - 9 and t2["ours"].notna().sum() == 9
    assert "not run / 7.61" in (out / "tables" / "table2.md").read_text()


def test_build_report_with_no_optional_stage(tmp_path):
    """Only scores ran: rank and Ranker tables/figures say "not run", nothing fails."""
    inputs = make_run(tmp_path, with_rank=False)
    inputs.update(train=[])
    index = build_small_report(tmp_path, inputs, tmp_path / "report")
    html = index.read_text()
    assert "not run: no Ranker evaluation in this run" in html
    assert "not run: no rank dataset in this run" in html
    assert "not run: no validation curve" in html
    t5 = pd.read_csv(index.parent / "tables" / "table5.csv")
    assert set(t5["status"]) == {"not run"} and t5["ours"].isna().all()


def test_cli_build_from_config_file(run, tmp_path):
    """`ranksrgan report build` as the rule calls it: config file + explicit input lists."""
    import yaml

    root, inputs = run
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["report"]["crops"]["size"] = 32
    cfg_path = tmp_path / "demo.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "report"
    args = [sys.executable, "-m", "ranksrgan", "report", "build", "--config", str(cfg_path),
            "--paper", str(PAPER), "--out", str(out)]
    for flag, key in (("--scores", "scores"), ("--train", "train"),
                      ("--data-manifests", "data_manifests"), ("--sr-manifests", "sr_manifests"),
                      ("--rankdata", "rankdata"), ("--rankers", "rankers")):
        args += [flag, *map(str, inputs[key])]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out / "index.html")
    md = (out / "index.md").read_text()
    assert "DEMO run, stand-ins" in md
    line = next(ln for ln in md.splitlines() if ln.startswith("| RankSRGAN iterations |"))
    assert line.endswith("| 600000 | 500000 | DIFFERS |")  # the demo's few iterations
    assert "config sha256" in md and cfg_path.name in md
    # a passed file that does not exist: one line naming it, exit 1
    proc = subprocess.run([*args[:11], "--scores", str(tmp_path / "nope.parquet")],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: {tmp_path / 'nope.parquet'}: score Parquet not found"


def test_report_rule_inputs_follow_the_config():
    """Dry runs: the demo plans one report job over its scores, curves and rank index; no
    Ranker stage in the config -> no Ranker input; no report section -> no report job."""
    import yaml

    snakemake = Path(sys.executable).parent / "snakemake"

    def plan(configfile):
        proc = subprocess.run([str(snakemake), "-n", "-p", "--forceall", "--nolock",
                               "--configfile", str(configfile)], cwd=REPO, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    out = plan("config/demo.yaml")
    cmd = next(ln for ln in out.splitlines() if "ranksrgan report build" in ln)
    assert "--scores results/demo/scores/demo_val/HR.parquet" in cmd
    assert "results/demo/train/ranksrgan_niqe/G.json" in cmd
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    del cfg["report"]
    tmp = REPO / "results" / "tests" / "demo_no_report.yaml"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(yaml.safe_dump(cfg))
    assert "report_build" not in plan(tmp)


def test_report_job_gets_the_resolved_config(tmp_path):
    """`--config` overrides reach the report job (it used to re-read the config file by name),
    and the CLI builds from that JSON with the override on the page."""
    import json
    import shlex

    snakemake = Path(sys.executable).parent / "snakemake"
    proc = subprocess.run(
        [str(snakemake), "-n", "-p", "--forceall", "--nolock", "--configfile", "config/demo.yaml",
         "--config", "scale=4", "train={'presets': {'ranksrgan_niqe': {'iterations': 77}}}"],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    cmd = next(ln for ln in out.splitlines() if "ranksrgan report build" in ln)
    assert "--config " not in cmd
    argv = shlex.split(cmd.split("Shell command:")[-1].split(">")[0])
    cfg = json.loads(argv[argv.index("--config-json") + 1])
    assert cfg["train"]["presets"]["ranksrgan_niqe"]["iterations"] == 77
    assert cfg["train"]["presets"]["srgan"]["iterations"] > 0  # the rest of the demo config
    bad = subprocess.run([sys.executable, "-m", "ranksrgan", "report", "build", "--config-json",
                          "{nope", "--paper", str(PAPER), "--out", str(tmp_path)],
                         capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 1 and bad.stderr.startswith("error: --config-json: invalid JSON")


def test_stand_in_banner_lists_each_label_once():
    from ranksrgan.report.build import stand_ins_of

    index = pd.DataFrame({"name": ["niqe"] * 3, "stand_in": [
        "tiny demo run", "tiny demo run; random perceptual weights", ""]})
    empty = pd.DataFrame(columns=["name", "stand_in"])
    lines = stand_ins_of(pd.DataFrame(), {}, pd.DataFrame(), pd.DataFrame(), empty,
                         RunMapping(), index=index)
    assert lines == ["rank dataset niqe: random perceptual weights; tiny demo run"]


def test_score_boxes_skip_infinite_psnr(tmp_path, recwarn):
    """HR scored against itself has PSNR = inf: the figure leaves it out, without warnings."""
    from ranksrgan.report.figures import score_distributions

    df = pd.concat([score_rows("d", "HR", {"psnr": [np.inf, np.inf]}),
                    score_rows("d", "bicubic", {"psnr": [26.0, 27.0]})])
    assert len(score_distributions(df, tmp_path / "box")) == 2
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize(("section", "value", "message"), [
    ("methods", {"SRGAN": "srgna"}, "report.methods.SRGAN': unknown method 'srgna'"),
    ("datasets", {"PIRM-Test": {"dataset": "PIRM"}},
     "report.datasets.PIRM-Test.dataset': unknown dataset 'PIRM'"),
    ("curves", {"SRGAN": "nope"}, "report.curves.SRGAN': unknown train preset 'nope'"),
    ("colour", "red", "report.colour (unknown key)"),
])
def test_report_config_errors_name_the_key(section, value, message):
    import yaml

    from ranksrgan.config import validate_config
    from ranksrgan.errors import RankSRGANError

    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["report"][section] = value
    with pytest.raises(RankSRGANError, match=re.escape(message)):
        validate_config(cfg, REPO / "workflow/schemas/config.schema.yaml", "demo.yaml")
