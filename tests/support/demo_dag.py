"""Run a demo-like config end to end once, in a folder laid out like a checkout.

The session fixture ``demo_run`` (tests/conftest.py) calls :func:`run_demo_dag`: the config
files are copied into ``root/config`` and Snakemake runs with ``--directory root``, so every
relative path of the config (``results/demo``, ``config/paper_results.yaml``) resolves inside
``root`` exactly as it does in a checkout, and the repository's own ``results/`` is never
touched. Which config runs: ``config/ci.yaml`` (the demo's stages with fewer iterations and
images, so the suite stays under 15 minutes on 2 cores; see config/README.md).

``RANKSRGAN_DEMO_RUN=<folder>`` reuses a finished run in that folder instead of starting one
(useful while developing a test; the file-contract checks still run against it).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.support import REPO

SNAKEMAKE = Path(sys.executable).parent / "snakemake"
CONFIG = "config/ci.yaml"
# Kills the whole run (Snakemake ignores SIGTERM while jobs run: SIGKILL the process group).
TIMEOUT_S = 1200


@dataclass(frozen=True)
class DemoRun:
    """A finished run: ``root`` is the working directory, ``config`` the config file
    relative to it, ``results`` the absolute results folder, ``seconds`` the run's wall time
    and ``cpu_seconds`` the CPU time of Snakemake and its jobs (0 when reused; the CPU time
    hardly depends on how busy the machine is), ``log`` Snakemake's output."""

    root: Path
    config: str
    results: Path
    seconds: float
    log: str
    cpu_seconds: float = 0.0

    @property
    def cfg(self) -> dict:
        """The config as loaded (a copy each time)."""
        return yaml.safe_load((self.root / self.config).read_text())


def snakemake(
    root: Path, config: str, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess:
    """``snakemake -s <repo Snakefile> --directory root --configfile config ARGS``."""
    return subprocess.run(
        [str(SNAKEMAKE), "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(root),
         "--configfile", config, *args],
        capture_output=True, text=True, timeout=timeout,
    )


def run_demo_dag(root: Path) -> DemoRun:
    """Copy ``config/`` under ``root`` and run the whole DAG of :data:`CONFIG` there."""
    reuse = os.environ.get("RANKSRGAN_DEMO_RUN")
    if reuse:
        root = Path(reuse)
        cfg = yaml.safe_load((root / CONFIG).read_text())
        return DemoRun(root, CONFIG, root / cfg["results_dir"], 0.0, "(reused)")
    shutil.copytree(REPO / "config", root / "config")
    cfg = yaml.safe_load((root / CONFIG).read_text())
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(root),
           "--configfile", CONFIG, "--cores", "all", "--resources", "gpu=1"]
    start = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError(f"demo DAG ran past {TIMEOUT_S} s:\n{out[-6000:]}") from None
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        logs = "\n".join(
            f"--- {p}\n{p.read_text()[-2000:]}"
            for p in sorted((root / cfg["results_dir"] / "logs").rglob("*.log"))
            if "error" in p.read_text().lower()
        )
        raise AssertionError(f"demo DAG failed (rc {proc.returncode}):\n{out[-6000:]}\n{logs}")
    (root / "run_seconds.txt").write_text(f"{seconds:.1f} s wall, {cpu:.1f} s CPU\n")
    return DemoRun(root, CONFIG, root / cfg["results_dir"], seconds, out, cpu)
