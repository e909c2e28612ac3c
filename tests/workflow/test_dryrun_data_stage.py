"""`snakemake -n` plans the data stage of both shipped configs (no network, nothing written)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def dry_run(configfile: str, *extra: str) -> str:
    proc = subprocess.run(
        [str(SNAKEMAKE), "-n", "-p", "--forceall", "--nolock", "--configfile", configfile, *extra],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    return out


def job_counts(out: str) -> dict[str, int]:
    stats = out.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, flags=re.MULTILINE)}


@pytest.fixture(scope="module")
def paper() -> str:
    return dry_run("config/config.yaml")


@pytest.fixture(scope="module")
def demo() -> str:
    return dry_run("config/demo.yaml")


def test_paper_plans_every_archive_and_dataset(paper):
    counts = job_counts(paper)
    assert counts["download_archive"] == 6
    assert counts["prepare_dataset"] == 7
    assert "demo_source" not in counts
    for name in ("DIV2K_train", "DIV2K_valid", "Flickr2K", "Set14", "BSD100", "PIRM_val",
                 "PIRM_test"):
        assert f"results/paper/data/{name}/manifest.parquet" in paper
    assert ("ranksrgan data download --url "
            "http://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip --sha256 "
            "9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335 --size 3530603713"
            ) in paper  # the published hash and size (TFDS url_checksums), not null
    assert "--out .cache/ranksrgan/archives/Flickr2K.tar" in paper
    # Two datasets come from one archive: one download, two prepare jobs reading it.
    assert paper.count("--archive .cache/ranksrgan/archives/benchmark.tar") == 2


def test_paper_prepare_arguments(paper):
    cmd = next(line for line in paper.splitlines()
               if "ranksrgan data prepare --dataset Set14" in line)
    assert "--member 'benchmark/Set14/HR/*.png'" in cmd  # glob quoted for the shell
    assert "--images 14 --scale 4 --alpha error --min-size 16" in cmd
    assert "--out-dir results/paper/data/Set14" in cmd


def test_demo_plans_source_download_and_three_sets(demo):
    counts = job_counts(demo)
    assert counts["demo_source"] == 1
    assert counts["download_archive"] == 1
    assert counts["prepare_dataset"] == 3
    assert "--out results/demo/source/demo_photos.zip" in demo
    assert "--url file:results/demo/source/demo_photos.zip" in demo
    assert "--split train=astronaut,coffee" in demo
