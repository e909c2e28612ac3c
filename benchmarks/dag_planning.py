"""Paper-scale DAG planning: time of `snakemake -n` on config/config.yaml and jobs per rule.

No pixels: the data stage's manifests are faked (the paper's image counts, names and the
manifest columns of docs/architecture.md, paths to PNGs that do not exist), so Snakemake plans
everything downstream of the data stage (sr, score, rankdata, ranker, train, report) in a
temporary folder laid out like a checkout. The data stage itself plans nothing: its
manifests exist and nothing upstream of them must run.

    .venv/bin/python benchmarks/dag_planning.py [--config config/config.yaml] [--repeat 3]

Prints the wall time of each planning run (target <= 10 s; CPU time beside it, since a busy
machine stretches the wall time) and the job count of each rule.
tests/workflow/test_paper_planning.py asserts the counts (never the time).
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def fake_listing(root: Path, config: str = "config/config.yaml") -> dict:
    """Copy ``config/`` under ``root`` and write a data manifest per dataset of the config
    (``datasets.<d>.images`` rows, no image files). Returns the loaded config."""
    shutil.copytree(REPO / "config", root / "config", dirs_exist_ok=True)
    cfg = yaml.safe_load((root / config).read_text())
    for d in cfg["data"]["datasets"]:
        n = cfg["datasets"][d]["images"]
        out = root / cfg["results_dir"] / "data" / d
        out.mkdir(parents=True, exist_ok=True)
        names = [f"{d}_{i:04d}" for i in range(1, n + 1)]
        pd.DataFrame({
            "image": names,
            "hr_path": [f"HR/{x}.png" for x in names],
            "lr_path": [f"LR_x{cfg['scale']}/{x}.png" for x in names],
            "height": 1356, "width": 2040,
            "hr_sha256": "0" * 64, "lr_sha256": "0" * 64,
        }).to_parquet(out / "manifest.parquet")
    return cfg


def plan(
    root: Path, config: str = "config/config.yaml", quiet: bool = True, extra: tuple = ()
) -> tuple[str, float, float]:
    """Run `snakemake -n` in ``root``; return (output, wall s, CPU s of the child).
    ``quiet=False`` also prints every job (slower: the test reads rule all's inputs)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [str(SNAKEMAKE), "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(root),
         "-n", *(["--quiet", "rules"] if quiet else []), *extra, "--configfile", config],
        capture_output=True, text=True, timeout=600,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake -n failed:\n{out[-4000:]}")
    return out, wall, cpu


def job_counts(out: str) -> dict[str, int]:
    """Jobs per rule from a dry run's "Job stats" table (without its "total" row)."""
    stats = out.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, flags=re.MULTILINE)
            if m.group(1) != "total"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ranksrgan-plan-") as tmp:
        root = Path(tmp)
        cfg = fake_listing(root, args.config)
        images = {d: cfg["datasets"][d]["images"] for d in cfg["data"]["datasets"]}
        print(f"fake listing: {sum(images.values())} images ({images})")
        times = []
        for i in range(args.repeat):
            out, wall, cpu = plan(root, args.config)
            times.append(wall)
            print(f"planning run {i + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU (target <= 10 s)")
        counts = job_counts(out)
        print(f"best {min(times):.2f} s wall over {args.repeat} runs")
        print(f"{'rule':<24}{'jobs':>6}")
        for rule, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"{rule:<24}{n:>6}")


if __name__ == "__main__":
    main()
