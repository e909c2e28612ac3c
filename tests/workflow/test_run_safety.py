"""Workflow-level safety: quoted paths (a space in results_dir) and one run per results folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.runlock import acquire_results_lock
from tests.support import REPO
from tests.support.configs import moved_demo_config

SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def _snakemake(configfile: Path, workdir: Path, *targets: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SNAKEMAKE), *targets, "-s", str(REPO / "workflow" / "Snakefile"), "--cores", "1",
         "--directory", str(workdir), "--configfile", str(configfile)],
        capture_output=True, text=True, timeout=300,
    )


def _hold_lock(results: Path) -> subprocess.Popen:
    """A process that holds the results folder's lock until killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from ranksrgan.io.runlock import acquire_results_lock\n"
         f"acquire_results_lock({str(results)!r}); print('held', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_results_dir_with_space_runs_data_stage(tmp_path):
    """Unquoted `> {log}` with results_dir 'x y/results' wrote to the file 'x' (issue 19.1)."""
    root = tmp_path / "x y"
    config = moved_demo_config(root, root.parent / f"{root.name}.yaml")
    target = str(root / "results" / "data" / "demo_val" / "manifest.parquet")
    proc = _snakemake(config, tmp_path, target)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert Path(target).is_file()
    assert len(list((root / "results" / "data" / "demo_val" / "HR").glob("*.png"))) == 2
    # nothing was written beside the folder whose name was cut at the space
    assert not (tmp_path / "x").exists()
    logs = list((root / "results" / "logs").rglob("*.log"))
    assert logs, "rule logs land inside the results folder"


def test_second_run_on_same_results_stops(tmp_path):
    """Two runs from two working directories on one results folder: the second stops."""
    config = moved_demo_config(tmp_path / "run", tmp_path / "run.yaml")
    results = tmp_path / "run" / "results"
    holder = _hold_lock(results)
    try:
        other_cwd = tmp_path / "elsewhere"
        other_cwd.mkdir()
        proc = _snakemake(config, other_cwd, str(results / "source" / "demo_photos.zip"))
    finally:
        holder.kill()
        holder.wait()
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "another run is writing into this folder" in out
    assert f"pid {holder.pid}" in out
    assert not (results / "source" / "demo_photos.zip").exists()


def test_lock_released_when_holder_is_killed(tmp_path):
    holder = _hold_lock(tmp_path)
    try:
        code = (
            "from ranksrgan.io.runlock import acquire_results_lock\n"
            f"acquire_results_lock({str(tmp_path)!r})"
        )
        busy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert busy.returncode != 0 and "another run is writing" in busy.stderr
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    time.sleep(0.1)
    acquire_results_lock(tmp_path)  # no stale lock after SIGKILL
    acquire_results_lock(tmp_path)  # idempotent in one process


def test_lock_unwritable_folder_is_one_line(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    tmp_path.chmod(0o500)
    with pytest.raises(RankSRGANError, match="cannot create the run lock"):
        acquire_results_lock(tmp_path / "r")
