"""Every table of the paper from one command: the paper config maps every row, and each
`tableN` target plans exactly the train / ranker / rankdata jobs its rows need."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ranksrgan.paper_results import RANKDATA_METRICS, SCORE_METRICS
from ranksrgan.table_plan import RANKER_FILE_METRICS, table_inputs
from tests.support import REPO

SNAKEMAKE = Path(sys.executable).parent / "snakemake"
PAPER = yaml.safe_load((REPO / "config" / "paper_results.yaml").read_text())
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())

# What each table's rows run, written out by hand from the paper (no SRGAN.pth or
# ESRGAN_SuperSR.pth here: SRGAN is trained with BasicSR's recipe, ESRGAN is downloaded).
LEVELS = {"srresnet", "srgan_basicsr"}  # the rank dataset's SR levels, Table 1's rows
EXPECTED = {
    "table1": (LEVELS, set(), set()),
    "table2": (LEVELS | {"fsrcnn", "ranksrgan_niqe"}, {"niqe"}, {"niqe"}),
    "table3": (LEVELS | {"ranksrgan_niqe", "ranksrgan_hr"}, {"niqe", "niqe_hr"},
               {"niqe", "niqe_hr"}),
    "table4": (LEVELS | {"ranksrgan_niqe", "ranksrgan_ma", "ranksrgan_pi"},
               {"niqe", "ma", "pi"}, {"niqe", "ma", "pi"}),
    "table5": (LEVELS, {"niqe_regression", "niqe", "ma_regression", "ma"}, {"niqe", "ma"}),
    "table6": (LEVELS | {"ranksrgan_niqe_regression", "ranksrgan_niqe",
                         "ranksrgan_ma_regression", "ranksrgan_ma"},
               {"niqe_regression", "niqe", "ma_regression", "ma"}, {"niqe", "ma"}),
    "table7": (LEVELS | {"srgan", "ranksrgan_niqe", "ranksrgan_niqe_m1", "ranksrgan_niqe_m5"},
               {"niqe"}, {"niqe"}),
    "supp_table1": (LEVELS | {"ranksrgan_div2k", "ranksrgan_niqe"}, {"niqe_div2k", "niqe"},
                    {"niqe_div2k", "niqe"}),
    "supp_table2": (LEVELS, {"niqe_vgg8", "niqe", "niqe_vgg16"}, {"niqe"}),
}


def _mapping_for(metric: str) -> str:
    if metric in SCORE_METRICS:
        return "methods"
    if metric in RANKER_FILE_METRICS:
        return "rankers"
    assert metric in RANKDATA_METRICS, metric
    return "rankdata"


def test_every_row_of_every_table_is_mapped_in_the_paper_config():
    rep = CONFIG["report"]
    missing = []
    for name, t in PAPER["tables"].items():
        if t.get("published") is False:
            continue  # "beyond the paper": no published values to reproduce
        for row in t["rows"]:
            for metric in t["metrics"]:
                section = _mapping_for(metric)
                mapped = (rep.get("tables", {}).get(name, {}).get(section, {})
                          or rep.get(section, {}))
                if row not in mapped and row not in rep.get(section, {}):
                    missing.append(f"{name}: {row} ({metric}: report.{section})")
    assert not missing, missing
    published = {n for n, t in PAPER["tables"].items() if t.get("published") is not False}
    assert set(EXPECTED) == published


@pytest.fixture(scope="module")
def closures(tmp_path_factory):
    """One DAG of every table target of the paper config, in a folder with no weights."""
    from ranksrgan.plan_cost import _plan

    work = tmp_path_factory.mktemp("paper")
    (work / "config").symlink_to(REPO / "config")
    jobs, _ = _plan([REPO / "config" / "config.yaml"], list(EXPECTED), work, None)
    return jobs


def _names(jobs, prefix: str, wildcard: str | None = None) -> set[str]:
    out = set()
    for j in jobs:
        rule = j.rule.name
        if wildcard is None and rule.startswith(prefix) and rule != "train_fetch_vgg19":
            out.add(rule.removeprefix(prefix))
        elif wildcard and rule == prefix:
            out.add(j.wildcards[wildcard])
    return out


@pytest.mark.parametrize("table", list(EXPECTED))
def test_table_target_plans_exactly_its_rows_runs(closures, table):
    presets, rankers, rankdata = EXPECTED[table]
    jobs = closures[table]
    assert _names(jobs, "train_") == presets
    assert _names(jobs, "ranker_") == rankers
    assert _names(jobs, "rankdata_gather", "name") == rankdata
    assert [j.rule.name for j in jobs].count("report_table") == 1
    assert "report_build" not in {j.rule.name for j in jobs}  # not the whole report


def test_dry_run_of_one_table_is_the_plan(tmp_path, closures):
    """`snakemake table4 -n` plans the same jobs per rule as the closure the cost uses."""
    (tmp_path / "config").symlink_to(REPO / "config")
    proc = subprocess.run(
        [str(SNAKEMAKE), "table4", "-n", "--nolock", "--configfile",
         str(REPO / "config" / "config.yaml"), "-s", str(REPO / "workflow" / "Snakefile"),
         "--directory", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = proc.stdout[proc.stdout.index("Job stats:"):].split("\n\n")[0].splitlines()[3:]
    planned = {line.split()[0]: int(line.split()[1]) for line in stats if line.strip()}
    planned.pop("total")
    counted: dict[str, int] = {}
    for j in closures["table4"]:
        counted[j.rule.name] = counted.get(j.rule.name, 0) + 1
    assert planned == counted


def test_table_inputs_follow_the_report_mapping():
    ins = table_inputs(CONFIG, PAPER, "table4")
    assert "results/paper/scores/PIRM_test/ranksrgan_pi.parquet" in ins["scores"]
    assert all("/PIRM_test/" in s for s in ins["scores"])  # Table 4 is on PIRM-Test only
    assert ins["rankers"] == [] and ins["rankdata"] == []
    supp = table_inputs(CONFIG, PAPER, "supp_table1")
    assert supp["rankdata"] == ["results/paper/rankdata/niqe_div2k/index.parquet",
                                "results/paper/rankdata/niqe/index.parquet"]


def test_status_tables_prints_jobs_and_declared_gpu_hours_per_table(tmp_path):
    """`ranksrgan status --tables`: one row per table target and `all`; shared experiments
    counted once in `all` (fewer jobs than the tables' sum); GPU-hours from the rules."""
    (tmp_path / "config").symlink_to(REPO / "config")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ranksrgan"), "status", "--config",
         str(REPO / "config" / "config.yaml"), "--root", str(tmp_path), "--tables"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {line.split()[0]: line.split()[1:] for line in proc.stdout.splitlines()
            if line.split() and line.split()[0] in {*EXPECTED, "all"}}
    assert set(rows) == {*EXPECTED, "all"}
    jobs = {t: int(v[0]) for t, v in rows.items()}
    gpu_h = {t: float(v[3]) for t, v in rows.items()}
    assert jobs["all"] < sum(jobs[t] for t in EXPECTED)
    assert jobs["all"] >= max(jobs[t] for t in EXPECTED)
    # Table 1 trains SRResNet and SRGAN: at least their two declared 2880-min train jobs
    assert gpu_h["table1"] >= 2 * 2880 / 60
    assert all(int(v[1]) == int(v[0]) for v in rows.values())  # nothing run in a fresh folder
