"""Issue 24: `make mini`'s report has no "not run" cell.

The miniature study's config (``config/mini.yaml``) with its ``results_dir`` in a tmp folder;
every file the report rule reads is fabricated there (``tests.support.mini_results``: score
Parquets, data / sr manifests, G.json + val.parquet, rank indexes + stats.json, Ranker
eval.parquet + eval_summary.json + model.json; no training, SR or scoring). Snakemake's dry
run of ``report_build`` on that config prints the rule's shell line, and the report is built
with exactly those arguments through the CLI (``ranksrgan report build``, in-process; its
figures are left out, to keep the test fast). Every table of
``config/paper_results.yaml`` (the published ones and "beyond") must then have its CSV, one
row per cell, and no cell "not run"; a cell the report cannot compute must say why ("not
measured" with a warning). The second test takes one fabricated input away and finds the
cell that now reads "not run" (or "not measured"): the first test can fail.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ranksrgan.config import load_config
from ranksrgan.report.paper import load_paper
from ranksrgan.table_plan import INPUT_GROUPS, table_inputs, table_names
from tests.support import REPO
from tests.support.mini_results import fabricate_report_inputs

SNAKEMAKE = Path(sys.executable).parent / "snakemake"
PAPER_PATH = REPO / "config" / "paper_results.yaml"
# the report CLI's flag of each table_plan input group
FLAGS = {"scores": "--scores", "data": "--data-manifests", "sr": "--sr-manifests",
         "train": "--train", "rankdata": "--rankdata", "rankers": "--rankers"}
ALLOWED = ("ok", "not measured")


def _report_argv(configfile: Path, page: str) -> list[str]:
    """The report rule's ``ranksrgan report build`` arguments, from Snakemake's dry run with
    only that rule allowed (every other file must exist: a missing input fails the plan)."""
    proc = subprocess.run(
        [str(SNAKEMAKE), page, "-n", "-p", "--nolock", "--allowed-rules", "report_build",
         "--configfile", str(configfile)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    line = next(ln for ln in out.splitlines() if "ranksrgan report build" in ln)
    words = shlex.split(line.split("Shell command:")[-1])
    words = words[: words.index(">")] if ">" in words else words  # the log redirection
    assert words[:3] == ["ranksrgan", "report", "build"], words[:3]
    return words[1:]


def _flag_values(argv: list[str], flag: str) -> list[str]:
    """The paths after one ``nargs='*'`` flag of the argv."""
    i = argv.index(flag) + 1
    out = []
    while i < len(argv) and not argv[i].startswith("--"):
        out.append(argv[i])
        i += 1
    return out


def _build(argv: list[str]) -> None:
    """``ranksrgan report build`` in-process, its figures left out (each figure function of
    ``ranksrgan.report.figures`` returns no file, as for inputs not run: drawing them is most
    of the build's time, and no table cell depends on a figure)."""
    import inspect

    from ranksrgan.cli import main
    from ranksrgan.report import figures

    with pytest.MonkeyPatch.context() as mp:
        for name, fn in vars(figures).items():
            if inspect.isfunction(fn) and fn.__module__ == figures.__name__:
                mp.setattr(figures, name, lambda *args, **kwargs: [])
        mp.chdir(REPO)  # --paper config/paper_results.yaml, as the rule's working directory
        assert main(argv) == 0


def _cells(report: Path, table: str) -> pd.DataFrame:
    path = report / "tables" / f"{table}.csv"
    assert path.is_file(), f"{path}: table CSV not written"
    return pd.read_csv(path, keep_default_na=False, dtype={"status": str, "warning": str})


def _problems(cells: pd.DataFrame) -> list[str]:
    """Cells that break the rule: not "ok" or "not measured", or "not measured" without why."""
    bad = cells[~cells["status"].isin(ALLOWED)
                | ((cells["status"] == "not measured") & (cells["warning"].str.strip() == ""))]
    return [f"{r.table}/{r.row}/{r.dataset}/{r.metric}: {r.status}" for r in bad.itertuples()]


@pytest.fixture(scope="module")
def mini_run(tmp_path_factory):
    """The mini config in a tmp results folder, every report input fabricated there, and the
    report rule's arguments for it: (root, config, input lists by group, argv)."""
    root = tmp_path_factory.mktemp("mini_report")
    config = load_config(REPO / "config" / "mini.yaml")
    config["results_dir"] = str(root / "R")
    config["cache_dir"] = str(root / "C")
    inputs = fabricate_report_inputs(config)
    configfile = root / "mini.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    argv = _report_argv(configfile, str(root / "R" / "report" / "index.html"))
    return root, config, inputs, argv


@pytest.fixture(scope="module")
def paper():
    return load_paper(PAPER_PATH)


def test_mini_report_has_no_not_run_cell(mini_run, paper):
    root, config, inputs, argv = mini_run
    spec = yaml.safe_load(PAPER_PATH.read_text())
    tables = table_names(spec)
    assert "beyond" in tables and "table1" in tables
    # what each table needs (ranksrgan.table_plan) is among what the report rule passes,
    # and the rule passes exactly the files fabricated here
    for group in INPUT_GROUPS:
        passed = _flag_values(argv, FLAGS[group])
        assert passed == inputs[group], group
        for table in tables:
            missing = set(table_inputs(config, spec, table)[group]) - set(passed)
            assert not missing, f"{table} needs {group} files the report rule lacks: {missing}"
    _build(argv)
    report = Path(config["results_dir"]) / "report"
    assert (report / "index.html").is_file()
    problems = []
    for table in tables:
        cells = _cells(report, table)
        assert len(cells) == (paper.values["table"] == table).sum(), table
        problems += _problems(cells)
    assert not problems, problems
    # the miniature study's own section: every seed's two arms scored
    per_seed = pd.read_csv(report / "tables" / "mini_study_per_seed.csv")
    assert sorted(per_seed["seed"].unique()) == [1, 2, 3]
    assert per_seed[["srgan", "ranksrgan", "diff"]].notna().all().all()


def _ranker_dir(root: Path, name: str) -> Path:
    return root / "R" / "ranker" / name


# (what is taken away, the table, the cells that change: (row, metric) -> their status)
TAKEN_AWAY = {
    "score Parquet of ranksrgan_nm": (
        "beyond", {("RankSRGAN-NM", m): "not run" for m in ("NIQE", "PI", "PSNR")}),
    "Ranker ma_regression": (
        "table5", {("Ma regression", "E|SR1-SR2|"): "not run"}),
    "eval_summary.json and model.json of Ranker niqe_vgg12": (
        "supp_table2", {("VGG-12", "Params (K)"): "not measured"}),
}


@pytest.mark.parametrize("what", list(TAKEN_AWAY))
def test_a_missing_input_shows_in_its_cell(mini_run, what, tmp_path):
    """One fabricated input deleted (and, for a file the rule passes, left out of the
    arguments as a config without it would): its cells read "not run" (or "not measured"
    when only the Ranker's parameter count went), every other cell of the table stays ok."""
    root, _, _, argv = mini_run
    new = tmp_path / root.name
    shutil.copytree(root / "R", new / "R", ignore=shutil.ignore_patterns("report", "logs"))
    argv = [a.replace(str(root), str(new)) for a in argv]
    table, expected = TAKEN_AWAY[what]
    if what.startswith("score Parquet"):
        gone = [new / "R" / "scores" / "mini_test" / "ranksrgan_nm.parquet"]
    elif what.startswith("Ranker "):
        gone = [_ranker_dir(new, "ma_regression") / "eval.parquet"]
        shutil.rmtree(_ranker_dir(new, "ma_regression"))
    else:
        d = _ranker_dir(new, "niqe_vgg12")
        (d / "eval_summary.json").unlink()
        (d / "model.json").unlink()
        gone = []
    for path in gone:
        path.unlink(missing_ok=True)
        assert str(path) in argv
        argv = [a for a in argv if a != str(path)]
    _build([*argv, "--tables", table])
    cells = _cells(new / "R" / "report", table)
    changed = {(r.row, r.metric): r.status for r in cells.itertuples() if r.status != "ok"}
    assert changed == expected
    problems = _problems(cells)
    if "not run" in expected.values():
        assert problems  # the first test's check catches it
    else:
        assert not problems
        assert (cells.loc[cells["status"] == "not measured", "warning"]
                == "parameter count not recorded by this Ranker run").all()
