"""Report stage: paper numbers, table builders on hand-made Parquet inputs, rendering, build.

The inputs are built here by hand (``make_run``): score Parquets with a stand-in (synthetic
NRQM) and an error row, a training curve with its G.json, SR images cropped from a real
scikit-image photo, a rank index and a Ranker evaluation. Missing runs are simply files not
passed, as the rule does when a stage is not enabled.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage import data as skdata

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

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "config" / "paper_results.yaml"
PAPER_TXT = sorted((REPO.parent / "shared" / "papers").glob("000_*.txt"))
SYNTH = "SYNTHETIC NRQM model"
PROTO = json.dumps({"colour": "y", "shave": 4, "quantize": True})


def score_rows(dataset, method, values: dict[str, list[float]], stand_in_metrics=("ma", "pi"),
               errors: dict[tuple[str, int], str] | None = None, note: str = "") -> pd.DataFrame:
    """Long score rows as the score stage writes them (one per image x metric)."""
    rows = []
    for metric, vals in values.items():
        for i, v in enumerate(vals):
            err = (errors or {}).get((metric, i), "")
            si = metric in stand_in_metrics or bool(note)
            rows.append({
                "dataset": dataset, "method": method, "image": f"im{i}", "metric": metric,
                "value": np.nan if err else float(v), "height": 64, "width": 64, "colour": "y",
                "shave": 4, "protocol": PROTO, "params_hash": "h", "stand_in": si,
                "stand_in_note": "; ".join(n for n in (note, SYNTH if metric in stand_in_metrics
                                                       else "") if n),
                "error": err,
            })
    return pd.DataFrame(rows)


def make_run(root: Path, *, with_rank: bool = True) -> dict:
    """A small hand-made results folder; returns the input lists per kind."""
    R = root / "results"
    photo = skdata.astronaut()[::4, ::4]  # 128 x 128 real photo
    inputs = {k: [] for k in ("scores", "train", "data_manifests", "sr_manifests", "rankdata",
                              "rankers")}
    # data + sr manifests with real images (2 images of 64 x 64)
    ds = "demo_test"
    hr_dir = R / "data" / ds / "HR"
    hr_dir.mkdir(parents=True)
    man = []
    for i in range(2):
        p = hr_dir / f"im{i}.png"
        Image.fromarray(np.ascontiguousarray(photo[i * 64:(i + 1) * 64, :64])).save(p)
        man.append({"image": f"im{i}", "hr_path": str(p), "lr_path": "", "height": 64,
                    "width": 64, "hr_sha256": f"{i}" * 64, "lr_sha256": "e" * 64})
    pd.DataFrame(man).to_parquet(R / "data" / ds / "manifest.parquet")
    inputs["data_manifests"].append(R / "data" / ds / "manifest.parquet")
    values = {
        "bicubic": {"niqe": [7.0, 8.0], "ma": [3.0, 3.5], "pi": [7.0, 7.2], "psnr": [26, 27]},
        "srgan": {"niqe": [3.0, 3.2], "ma": [8.5, 8.7], "pi": [2.3, 2.2], "psnr": [25, 25.5]},
        "ranksrgan": {"niqe": [2.4, 2.6], "ma": [8.6, 8.8], "pi": [2.0, 1.9], "psnr": [25, 26]},
    }
    for k, (method, vals) in enumerate(values.items()):
        sr_dir = R / "sr" / method / ds
        sr_dir.mkdir(parents=True)
        rows = []
        for i in range(2):
            p = sr_dir / f"im{i}.png"
            img = np.clip(photo[i * 64:(i + 1) * 64, :64].astype(int) + 10 * k, 0, 255)
            Image.fromarray(img.astype(np.uint8)).save(p)
            rows.append({"image": f"im{i}", "method": method, "path": str(p), "height": 64,
                         "width": 64, "weights_sha256": None if method == "bicubic" else
                         f"{k}" * 64, "stand_in": None if method == "bicubic" else
                         "tiny demo run"})
        pd.DataFrame(rows).to_parquet(sr_dir / "manifest.parquet")
        inputs["sr_manifests"].append(sr_dir / "manifest.parquet")
        errors = {("niqe", 1): "im1.png: too small"} if method == "srgan" else None
        note = "" if method == "bicubic" else "tiny demo run"
        df = score_rows(ds, method, vals, errors=errors, note=note)
        p = R / "scores" / ds / f"{method}.parquet"
        p.parent.mkdir(parents=True, exist_ok=True)
        df.to_parquet(p)
        inputs["scores"].append(p)
    for preset, base in (("srgan", 6.0), ("ranksrgan_niqe", 4.0)):
        d = R / "train" / preset
        d.mkdir(parents=True)
        v = pd.DataFrame([{"preset": preset, "iteration": it, "image": f"im{i}",
                           "psnr": 25 + 0.01 * it, "niqe": base - 0.02 * it,
                           "stand_in": "tiny demo run; random perceptual weights"}
                          for it in (0, 20, 40) for i in range(2)])
        v.to_parquet(d / "val.parquet")
        (d / "G.json").write_text(json.dumps({
            "preset": preset, "iterations": 40, "stand_in": True,
            "labels": ["tiny demo run", "random perceptual weights"],
            "weights_sha256": "f" * 64}))
        inputs["train"].append(d / "G.json")
    if with_rank:
        d = R / "rankdata" / "niqe"
        d.mkdir(parents=True)
        idx = pd.DataFrame([{"image": f"im{i}", "dataset": ds, "x": x, "y": 0, "size": 32,
                             "method": m, "level": lv, "path": "", "score": s + 0.1 * x / 32,
                             "label": lv, "metric": "niqe", "split": "val" if i else "train"}
                            for i in range(2) for x in (0, 32)
                            for lv, (m, s) in enumerate([("srresnet", 6.0), ("srgan", 3.0),
                                                         ("esrgan", 2.8)], 1)])
        idx.to_parquet(d / "index.parquet")
        (d / "stats.json").write_text(json.dumps({"positions": 4}))
        inputs["rankdata"].append(d / "index.parquet")
        d = R / "ranker" / "niqe"
        d.mkdir(parents=True)
        ev = idx.assign(output=lambda t: -t["level"] + 0.05 * t["x"] / 32)
        ev[["image", "x", "y", "method", "label", "output"]].to_parquet(d / "eval.parquet")
        inputs["rankers"].append(d / "eval.parquet")
    return inputs


MAPPING = RunMapping(
    datasets={"PIRM-Test": "demo_test"},
    dataset_stand_ins={"PIRM-Test": "demo photos"},
    methods={"Bicubic": "bicubic", "SRGAN": "srgan", "RankSRGAN": "ranksrgan",
             "RankSRGAN-N": "ranksrgan", "RankSRGAN-R-D2": "ranksrgan"},
    rankers={"NIQE rank": "niqe", "VGG-12": "niqe", "RankSRGAN-R-D2": "niqe"},
    rankdata={"RankSRGAN-R-D2": "niqe"},
)


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
    assert bool(s.loc[("bicubic", "pi"), "stand_in"]) and not s.loc[("bicubic", "psnr"),
                                                                     "stand_in"]
    assert SYNTH in s.loc[("bicubic", "ma"), "stand_in_note"]


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
                                  "stand_in", "stand_in_note", "protocol"])
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


def build_small_report(root: Path, inputs: dict, out: Path) -> Path:
    """The report of ``make_run``'s inputs, as the CLI builds it from a config file."""
    from ranksrgan.report.build import ReportInputs, build_report
    from ranksrgan.report.cli import settings_from_config

    config = {
        "results_dir": str(root / "results"),
        "train": {"runtime": {"precision": "fp32"},
                  "presets": {"srgan": {"iterations": 40, "optim": {"betas": [0.9, 0.99]}},
                              "ranksrgan_niqe": {"extends": "srgan", "losses": {
                                  "rank": {"weight": 0.03}}}}},
        "methods": {"esrgan": {"kind": "network", "weights": "esrgan_w"}},
        "weights": {"esrgan_w": {"url": "https://x/ESRGAN_SRx4-ff704c30.pth"}},
        "report": {
            "datasets": {"PIRM-Test": {"dataset": "demo_test", "stand_in": "demo photos"}},
            "methods": MAPPING.methods, "rankers": MAPPING.rankers,
            "rankdata": MAPPING.rankdata,
            "curves": {"SRGAN": "srgan", "RankSRGAN": "ranksrgan_niqe"},
            "crops": {"dataset": "demo_test", "image": None, "size": 32},
        },
    }
    settings = settings_from_config(config, "config/test.yaml", str(PAPER))
    return build_report(PAPER, ReportInputs(**inputs), settings, out,
                        {"config sha256": "0" * 64})


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
