"""The miniature study (issues 18 and 24): config/mini.yaml is valid, holds its test photos out of
every training, maps every row of every paper table to a run it plans (each table target too),
plans the whole chain for each seed with both arms sharing everything but the rank loss, the
variants change one thing each, and the report's mini-study tables are right on hand-made
scores."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ranksrgan.config import validate_config
from ranksrgan.data.demo import build_demo_archive, find_photo, photo_dirs
from ranksrgan.errors import RankSRGANError
from ranksrgan.layout import Layout
from ranksrgan.paper_results import (
    RANKDATA_METRICS,
    RANKER_METRICS,
    RANKER_PARAM_METRICS,
    SCORE_METRICS,
    row_datasets,
)
from ranksrgan.presets import resolve_preset
from ranksrgan.report import mini_study as mini
from ranksrgan.report.tables import ranker_summary
from ranksrgan.table_plan import table_inputs, table_mapping
from tests.support import REPO

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
SEEDS = (1, 2, 3)


@pytest.fixture(scope="module")
def cfg() -> dict:
    c = yaml.safe_load((REPO / "config" / "mini.yaml").read_text())
    validate_config(copy.deepcopy(c), SCHEMA, "config/mini.yaml")
    return c


@pytest.fixture(scope="module")
def plan() -> str:
    proc = subprocess.run(
        [str(SNAKEMAKE), "-n", "-p", "--forceall", "--nolock", "--configfile", "config/mini.yaml"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    return out


def test_mini_plans_the_whole_chain_per_seed(plan, cfg):
    stats = plan.split("Job stats:", 1)[1]
    counts = {m.group(1): int(m.group(2))
              for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, flags=re.MULTILINE)}
    for rule in ("demo_source", "train_srresnet", "train_srgan", "train_rrdb_psnr",
                 "train_esrgan", "ranker_niqe", "report_build"):
        assert counts.get(rule) == 1, rule
    assert counts.get("rankdata_gather") == len(cfg["rankdata"])
    for name in cfg["ranker"]:
        assert counts.get(f"ranker_{name}") == 1, name
    for preset in cfg["train"]["targets"]:
        assert counts.get(f"train_{preset}") == 1, preset
    for k in SEEDS:
        assert counts.get(f"train_srgan_s{k}") == counts.get(f"train_ranksrgan_s{k}") == 1
        # the RankSRGAN arm reads the study's Ranker; the SRGAN arm reads none
        assert re.search(rf"--out results/mini/train/ranksrgan_s{k} .*--ranker "
                         r"results/mini/ranker/niqe/model\.pth", plan)
        assert not re.search(rf"--out results/mini/train/srgan_s{k} .*--ranker", plan)
        for method in (f"srgan_s{k}", f"ranksrgan_s{k}"):
            assert f"results/mini/scores/mini_test/{method}.parquet" in plan
    assert "gan_arm" not in counts and "train_rank_arm" not in counts  # templates only


PAPER_TABLES = ("table1", "table2", "table3", "table4", "table5", "table6", "table7",
                "supp_table1", "supp_table2")
# the miniature also runs the "beyond the paper" table's rows (RankESRGAN, RankSRGAN-NM)
MINI_TABLES = (*PAPER_TABLES, "beyond")
# which mapping section fills a metric's cells, and the config section its names live in
SECTIONS = (("methods", tuple(SCORE_METRICS), "score"),
            ("rankers", (*RANKER_METRICS, *RANKER_PARAM_METRICS), "ranker"),
            ("rankdata", RANKDATA_METRICS, "rankdata"))


@pytest.fixture(scope="module")
def paper() -> dict:
    return yaml.safe_load((REPO / "config" / "paper_results.yaml").read_text())


def _published(paper: dict) -> list[str]:
    return [t for t, v in paper["tables"].items() if v.get("published", True)]


def test_mini_maps_every_row_of_every_paper_table(cfg, paper):
    """No cell of a published table can read "not run" for want of a mapping: every row's
    metric has a mapped name that the config runs (a scored method on a scored dataset, a
    Ranker, a rank dataset)."""
    assert _published(paper) == list(PAPER_TABLES)  # a new table must be mapped here too
    rep = cfg["report"]
    datasets = {k: v["dataset"] for k, v in rep["datasets"].items()}
    scored = set(cfg["score"]["methods"])
    unmapped = []
    for t in MINI_TABLES:
        table = paper["tables"][t]
        for section, metrics, where in SECTIONS:
            if not set(table["metrics"]) & set(metrics):
                continue
            mapping = table_mapping(rep, t, section)
            for row in map(str, table["rows"]):
                name = mapping.get(row)
                if name is None:
                    unmapped.append(f"{t}/{row}/{section}")
                    continue
                if where == "score":
                    assert name in scored, (t, row, name)
                    for ds in row_datasets(table):
                        assert datasets[ds] in cfg["score"]["datasets"], (t, ds)
                else:
                    assert name in cfg[where], (t, row, name)
    assert unmapped == []


def test_mini_table_mapping_mirrors_the_paper_config(cfg):
    rep, rankers = cfg["report"], cfg["ranker"]
    # Table 7's SRGAN row is RankSRGAN's recipe without the rank term: the gan_arm SRGAN of
    # seed 1, whose RankSRGAN (ranksrgan_s1) is the table's RankSRGAN row
    assert table_mapping(rep, "table7", "methods")["SRGAN"] == "srgan_s1"
    assert resolve_preset(cfg["train"]["presets"], "srgan_s1")["description"].startswith(
        "study arm SRGAN")
    assert table_mapping(rep, "table1", "methods")["SRGAN"] == "srgan"  # the level
    assert rep["methods"]["RankSRGAN"] == rep["methods"]["RankSRGAN-N"] == "ranksrgan_s1"
    assert [rankers[rep["rankers"][k]]["arch"] for k in ("VGG-8", "VGG-12", "VGG-16")] == [
        "ranker_vgg8", "ranker_vgg12", "ranker_vgg16"]
    for label, loss, metric in (("NIQE regression", "regression", "niqe"),
                                ("NIQE rank", "margin", "niqe"),
                                ("Ma regression", "regression", "ma"),
                                ("Ma rank", "margin", "ma")):
        r = rankers[rep["rankers"][label]]
        assert (r.get("loss", "margin"), cfg["rankdata"][r["rankdata"]]["metric"]) == (
            loss, metric), label
    d1, d2 = (cfg["rankdata"][rep["rankdata"][k]] for k in ("RankSRGAN-R-D1", "RankSRGAN-R-D2"))
    half = cfg["datasets"][d1["sources"][0]]
    assert half["images"] < cfg["datasets"][d2["sources"][0]]["images"]  # the smaller source
    train = set(cfg["demo_source"]["splits"]["train"])
    assert {Path(m).stem for m in half["members"]} < train
    assert cfg["rankdata"]["niqe_hr"]["methods"][-1] == "HR"


# the variant -> (its Ranker, its MSE weight); everything else is ranksrgan_s1's
VARIANTS = {"ranksrgan_hr": ("niqe_hr", None), "ranksrgan_ma": ("ma", None),
            "ranksrgan_pi": ("pi", None), "ranksrgan_ren": ("niqe_regression", None),
            "ranksrgan_rem": ("ma_regression", None), "ranksrgan_m1": ("niqe", 1.0),
            "ranksrgan_m2": ("niqe", 5.0), "ranksrgan_d1": ("niqe_half", None)}


@pytest.mark.parametrize("name", ["cfg", "gpu_cfg"])
def test_variants_are_ranksrgan_s1_with_one_change(name, request):
    cfg = request.getfixturevalue(name)
    presets = cfg["train"]["presets"]
    base = resolve_preset(presets, "ranksrgan_s1")
    for variant, (ranker, mse) in VARIANTS.items():
        assert presets[variant]["extends"] == "rank_arm", variant
        v = resolve_preset(presets, variant)
        assert {k: x for k, x in v.items() if k not in ("losses", "description")} == {
            k: x for k, x in base.items() if k not in ("losses", "description")}, variant
        losses = copy.deepcopy(v["losses"])
        assert losses["rank"]["ranker"].pop("name") == ranker, variant
        assert losses.pop("mse", {}).get("weight") == mse, variant
        want = copy.deepcopy(base["losses"])
        want["rank"]["ranker"].pop("name")
        assert losses == want, variant
        # the frozen Ranker the loss loads is the one the Ranker stage trains
        r = cfg["ranker"][ranker]
        assert (r["arch"], r["arch_options"]) == (v["losses"]["rank"]["ranker"]["arch"],
                                                  v["losses"]["rank"]["ranker"]["options"])
        assert variant in cfg["train"]["targets"] and variant in cfg["score"]["methods"]


@pytest.fixture(scope="module")
def table_plan() -> str:
    proc = subprocess.run(
        [str(SNAKEMAKE), *MINI_TABLES, "-n", "--forceall", "--nolock", "--configfile",
         "config/mini.yaml"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    return out


def test_every_table_target_plans_its_cells_files(table_plan, cfg, paper):
    """`snakemake tableN -n --configfile config/mini.yaml` plans each table's report page with
    every file its cells read (score tables, Ranker evaluations, rank indexes)."""
    inputs = {}
    for m in re.finditer(r"^rule report_table:\n    input: (.*)\n    output: (.*)$", table_plan,
                         flags=re.MULTILINE):
        table = re.search(r"report/tables/(\w+)/index\.html", m.group(2)).group(1)
        inputs[table] = set(m.group(1).split(", "))
    assert set(inputs) == set(MINI_TABLES)
    lay = Layout.of(cfg)
    ds = {k: v["dataset"] for k, v in cfg["report"]["datasets"].items()}
    for t in MINI_TABLES:
        want = table_inputs(cfg, paper, t)
        table = paper["tables"][t]
        rows = [str(r) for r in table["rows"]]
        metrics = set(table["metrics"])
        expect = {g: set() for g in want}
        # one file per row (and column): no row is left without its run's files
        if metrics & set(SCORE_METRICS):
            m = table_mapping(cfg["report"], t, "methods")
            expect["scores"] = {lay.score_table(ds[d], m[r]) for r in rows
                                for d in row_datasets(table)}
        if metrics & {*RANKER_METRICS, *RANKER_PARAM_METRICS}:
            m = table_mapping(cfg["report"], t, "rankers")
            expect["rankers"] = {lay.ranker_eval(m[r]) for r in rows}
        if metrics & set(RANKDATA_METRICS):
            m = table_mapping(cfg["report"], t, "rankdata")
            expect["rankdata"] = {lay.rank_index(m[r]) for r in rows}
        for group in ("scores", "rankers", "rankdata"):
            assert set(want[group]) == expect[group], (t, group)
        for group, files in want.items():
            assert set(files) <= inputs[t], (t, group, set(files) - inputs[t])
    assert "report/tables/table2" in table_plan and "mini_bsd100/bicubic.parquet" in table_plan


@pytest.fixture(scope="module")
def gpu_cfg() -> dict:
    c = yaml.safe_load((REPO / "config" / "mini_gpu.yaml").read_text())
    validate_config(copy.deepcopy(c), SCHEMA, "config/mini_gpu.yaml")
    return c


def test_gpu_setting_is_the_same_study_larger(cfg, gpu_cfg):
    assert gpu_cfg["device"] == "cuda" and gpu_cfg["results_dir"] == "results/mini_gpu"
    for key in ("datasets", "rankdata", "score"):
        assert gpu_cfg[key] == cfg[key], key
    assert gpu_cfg["demo_source"]["splits"] == cfg["demo_source"]["splits"]
    assert gpu_cfg["report"]["mini_study"]["seeds"] == cfg["report"]["mini_study"]["seeds"]
    big, small = (resolve_preset(c["train"]["presets"], "ranksrgan_s1") for c in (gpu_cfg, cfg))
    assert big["iterations"] > small["iterations"]
    assert big["data"]["batch_size"] > small["data"]["batch_size"]


@pytest.mark.parametrize("name", ["cfg", "gpu_cfg"])
def test_both_arms_share_init_seed_data_and_iterations(name, request):
    cfg = request.getfixturevalue(name)
    presets = cfg["train"]["presets"]
    for k in SEEDS:
        g = resolve_preset(presets, f"srgan_s{k}")
        r = resolve_preset(presets, f"ranksrgan_s{k}")
        assert g["seed"] == r["seed"] == k
        for key in ("init", "iterations", "data", "optim", "scheduler", "generator",
                    "discriminator"):
            assert g[key] == r[key], key
        assert {n: v for n, v in r["losses"].items() if n != "rank"} == g["losses"]
        assert "rank" not in g["losses"] and r["losses"]["rank"]["weight"] > 0
        assert r["losses"]["rank"]["ranker"] == {**r["losses"]["rank"]["ranker"],
                                                 "source": "stage", "name": "niqe"}
        # equal stand-ins: random VGG perceptual weights on both arms
        assert g["losses"]["perceptual"]["weights"] == r["losses"]["perceptual"]["weights"]
    pairs = cfg["report"]["mini_study"]["seeds"]
    assert [(p["seed"], p["srgan"], p["ranksrgan"]) for p in pairs] == [
        (k, f"srgan_s{k}", f"ranksrgan_s{k}") for k in SEEDS]


def test_test_photos_are_held_out_of_every_training(cfg):
    splits = cfg["demo_source"]["splits"]
    held = ("test", "set14", "bsd100")  # every column of Table 2, each its own photos
    seen = [p for k in splits for p in splits[k]]
    assert len(seen) == len(set(seen))  # no photo in two splits
    for k in held:
        assert not set(splits[k]) & (set(splits["train"]) | set(splits["val"])), k
    test_ds = {d for d, s in cfg["datasets"].items()
               if any(f"/{k}/" in s["members"][0] for k in held)}
    assert test_ds == {"mini_test", "mini_set14", "mini_bsd100"}
    columns = {k: v["dataset"] for k, v in cfg["report"]["datasets"].items()}
    assert columns == {"PIRM-Test": "mini_test", "Set14": "mini_set14", "BSD100": "mini_bsd100"}
    for paper_ds in ("Set14", "BSD100", "PIRM-Test"):  # every column says it is a stand-in
        assert "not " + paper_ds in cfg["report"]["datasets"][paper_ds]["stand_in"]
    assert cfg["report"]["mini_study"]["dataset"] == "mini_test"
    for name, rd in cfg["rankdata"].items():
        assert not set(rd["sources"]) & test_ds, name
    for name in cfg["train"]["presets"]:
        data = resolve_preset(cfg["train"]["presets"], name)["data"]
        assert not (set(data["train"]) | {data["val"]}) & test_ds, name


def test_mini_study_references_are_checked(cfg):
    bad = copy.deepcopy(cfg)
    bad["report"]["mini_study"]["seeds"][1]["ranksrgan"] = "esrgan_typo"
    with pytest.raises(RankSRGANError, match=r"report\.mini_study\.seeds\[1\]\.ranksrgan"):
        validate_config(bad, SCHEMA, "mini.yaml")
    bad = copy.deepcopy(cfg)
    bad["report"]["mini_study"]["metrics"] = ["niqe", "lpips"]
    with pytest.raises(RankSRGANError, match="mini_study"):
        validate_config(bad, SCHEMA, "mini.yaml")


def test_photos_from_installed_packages_go_into_the_archive(tmp_path):
    dirs = photo_dirs()
    kodak = find_photo("I03", dirs)
    assert kodak.suffix == ".bmp" and kodak.parent.name == "ref_dir"
    assert find_photo("grace_hopper", dirs).name == "grace_hopper.jpg"
    out = build_demo_archive({"test": ["I03", "grace_hopper"], "train": ["coins"]},
                             tmp_path / "a.zip", max_side=256, min_side=128)
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["demo_photos/test/I03.png", "demo_photos/test/grace_hopper.png",
                                 "demo_photos/train/coins.png"]
    with pytest.raises(RankSRGANError, match="no photo 'nope'"):
        find_photo("nope", dirs)


def _summary(rows):
    return pd.DataFrame(
        [{"dataset": "held", "method": m, "metric": k, "value": v, "n": 5,
          "stand_in": "SYNTHETIC NRQM model" if k == "pi" else ""}  # score_summary's note
         for m, k, v in rows])


STUDY = mini.MiniStudy.from_mapping({
    "dataset": "held", "metrics": ["niqe", "psnr"], "ranker": "r",
    "seeds": [{"seed": 1, "srgan": "g1", "ranksrgan": "r1"},
              {"seed": 2, "srgan": "g2", "ranksrgan": "r2"},
              {"seed": 3, "srgan": "g3", "ranksrgan": "r3"}],
    "stand_ins": "random VGG",
})


def test_table_builder_differences_and_spread():
    summary = _summary([
        ("g1", "niqe", 6.0), ("r1", "niqe", 5.0), ("g1", "psnr", 25.0), ("r1", "psnr", 24.5),
        ("g2", "niqe", 6.0), ("r2", "niqe", 6.5), ("g2", "psnr", 25.0), ("r2", "psnr", 25.5),
        ("g3", "niqe", 7.0), ("r3", "niqe", 5.5), ("g3", "psnr", 24.0), ("r3", "psnr", 24.0),
        ("r1", "niqe", 99.0),  # another dataset's row must not leak in (see below)
    ])
    summary.loc[summary.index[-1], "dataset"] = "other"
    seeds = mini.per_seed(summary, STUDY)
    niqe = seeds[seeds["metric"] == "niqe"].set_index("seed")
    assert niqe["diff"].tolist() == [-1.0, 0.5, -1.5]
    assert niqe["ranksrgan_better"].tolist() == [True, False, True]  # lower NIQE is better
    psnr = seeds[seeds["metric"] == "psnr"].set_index("seed")
    assert psnr["ranksrgan_better"].tolist() == [False, True, None]  # higher PSNR; a tie
    agg = mini.aggregate(seeds).set_index("metric")
    assert agg.loc["niqe", "diff_mean"] == pytest.approx(-2.0 / 3)
    assert agg.loc["niqe", "diff_std"] == pytest.approx(np.std([-1.0, 0.5, -1.5], ddof=1))
    assert (agg.loc["niqe", "diff_min"], agg.loc["niqe", "diff_max"]) == (-1.5, 0.5)
    assert agg.loc["niqe", "ranksrgan_better_seeds"] == "2/3"
    assert agg.loc["psnr", "ranksrgan_better_seeds"] == "1/3"
    assert agg.loc["niqe", "srgan_mean"] == pytest.approx(19 / 3)
    text = mini.verdict(mini.aggregate(seeds))
    assert "NIQE RankSRGAN - SRGAN = -0.667 +- 1.041" in text and "2/3 seeds" in text


def test_table_builder_missing_arm_is_nan_not_invented():
    summary = _summary([("g1", "niqe", 6.0), ("r1", "niqe", 5.0), ("g2", "niqe", 6.0)])
    seeds = mini.per_seed(summary, STUDY)
    s2 = seeds[(seeds["seed"] == 2) & (seeds["metric"] == "niqe")].iloc[0]
    assert np.isnan(s2["ranksrgan"]) and np.isnan(s2["diff"]) and s2["ranksrgan_better"] is None
    agg = mini.aggregate(seeds).set_index("metric")
    assert agg.loc["niqe", "seeds"] == 1 and np.isnan(agg.loc["niqe", "diff_std"])
    assert agg.loc["psnr", "seeds"] == 0 and agg.loc["psnr", "ranksrgan_better_seeds"] == "0/0"
    assert "PSNR: not run" in mini.verdict(mini.aggregate(seeds))


def test_ranker_line_and_section():
    evals = pd.DataFrame({"output": [0.1, 0.5, 0.9, 0.2], "label": [1.0, 2.0, 3.0, 4.0],
                          "image": ["a", "a", "b", "b"], "name": "r"})
    rsum = ranker_summary(evals)
    line = mini.ranker_line(rsum, evals, "r")
    assert "SROCC 0.400" in line and "4 validation patches of 2 image(s)" in line
    assert "not run" in mini.ranker_line(rsum.iloc[0:0], evals, "r")
    summary = _summary([("g1", "niqe", 6.0), ("r1", "niqe", 5.0)])
    res = mini.build_tables(summary, rsum, evals, STUDY)
    sec = mini.section(res, STUDY, {"per_seed CSV": "tables/mini_study_per_seed.csv"})
    assert sec.name == "mini_study"
    for text in (sec.html, sec.markdown):
        assert "random VGG" in text and "SROCC 0.400" in text
        assert "tables/mini_study_per_seed.csv" in text and "RankSRGAN - SRGAN" in text


def test_report_page_gets_the_section_only_when_configured(tmp_path):
    from ranksrgan.report.build import ReportInputs, ReportSettings, build_report

    rows = [{"dataset": "held", "method": m, "image": f"im{i}", "metric": k,
             "value": v + 0.1 * i, "stand_in": "", "error": ""}
            for m, k, v in [("g1", "niqe", 6.0), ("r1", "niqe", 5.0), ("g1", "psnr", 25.0),
                            ("r1", "psnr", 24.0)] for i in range(3)]
    paths = []
    for m in ("g1", "r1"):
        p = tmp_path / "scores" / f"{m}.parquet"
        p.parent.mkdir(exist_ok=True)
        pd.DataFrame([r for r in rows if r["method"] == m]).to_parquet(p)
        paths.append(p)
    study = mini.MiniStudy.from_mapping({
        "dataset": "held", "metrics": ["niqe", "psnr"],
        "seeds": [{"seed": 1, "srgan": "g1", "ranksrgan": "r1"}], "stand_ins": "random VGG"})
    paper = REPO / "config" / "paper_results.yaml"
    with_study = build_report(paper, ReportInputs(scores=paths),
                              ReportSettings(mini_study=study), tmp_path / "a")
    md = (tmp_path / "a" / "index.md").read_text()
    assert "## Miniature study" in md and "RankSRGAN - SRGAN = -1.000" in md
    assert 'id="mini_study"' in with_study.read_text()
    agg = pd.read_csv(tmp_path / "a" / "tables" / "mini_study_aggregate.csv")
    assert agg.set_index("metric").loc["psnr", "diff_mean"] == pytest.approx(-1.0)
    build_report(paper, ReportInputs(scores=paths), ReportSettings(), tmp_path / "b")
    assert "Miniature study" not in (tmp_path / "b" / "index.md").read_text()
    assert not (tmp_path / "b" / "tables" / "mini_study_aggregate.csv").exists()
