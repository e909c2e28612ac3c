"""`train.iteration_scale`: a shortened study, every preset and Ranker shortened alike."""

from __future__ import annotations

import copy
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ranksrgan.budget import scale_count, scale_milestones, scale_schedule
from ranksrgan.config import validate_config
from ranksrgan.errors import RankSRGANError
from ranksrgan.ranker.options import get_schedule, resolved_section
from tests.support import REPO

SNAKEMAKE = Path(sys.executable).parent / "snakemake"
PAPER = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_counts_round_and_stay_positive():
    assert scale_count(500_000, 0.1) == 50_000
    assert scale_count(5, 0.1) == 1 and scale_count(15, 0.1) == 2
    # distinct and below the shortened run, never empty
    assert scale_milestones([5, 20, 200], 10, 0.1) == [1, 2]
    assert scale_milestones([100], 1, 0.5) == [50]


def test_gan_preset_scaled_in_iterations_milestones_and_intervals():
    preset = {"iterations": 500_000, "scheduler": {"milestones": [50_000, 100_000, 200_000]},
              "checkpoint_every": 5000, "val_every": 5000, "log_every": 100, "seed": 10}
    out = scale_schedule(preset, 0.01)
    assert out["iterations"] == 5000
    assert out["scheduler"]["milestones"] == [500, 1000, 2000]
    assert (out["checkpoint_every"], out["val_every"], out["log_every"]) == (50, 50, 100)
    assert out["seed"] == 10 and preset["iterations"] == 500_000  # a copy
    assert scale_schedule(preset, 1) == preset


def test_ranker_section_takes_the_schedule_then_scales():
    spec = copy.deepcopy(PAPER["ranker"]["niqe"])
    code = get_schedule("code")
    out = resolved_section(spec, 0.1)
    assert out["iterations"] == code.iterations // 10
    assert out["milestones"] == [m // 10 for m in code.milestones]
    assert out["checkpoint_every"] == 500
    assert resolved_section(spec, 1) == spec


@pytest.mark.parametrize("value", [0, -0.5, 1.5, "x"])
def test_bad_scale_is_one_line_naming_the_key(value):
    cfg = copy.deepcopy(PAPER)
    cfg["train"]["iteration_scale"] = value
    with pytest.raises(RankSRGANError, match=r"config key 'train.iteration_scale'"):
        validate_config(cfg, None, "config.yaml")


def test_jobs_get_the_shortened_values(tmp_path):
    """The dry run of Table 4 at scale 0.1: each train job's --preset-json and each Ranker's
    flags carry a tenth of the paper's iterations."""
    (tmp_path / "config").symlink_to(REPO / "config")
    proc = subprocess.run(
        [str(SNAKEMAKE), "table4", "-n", "-p", "--forceall", "--nolock", "--configfile",
         str(REPO / "config" / "config.yaml"), "--config", "train={iteration_scale: 0.1}",
         "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    presets, rankers = {}, {}
    for line in proc.stdout.splitlines():
        line = line.removeprefix("Shell command: ")
        if line.startswith("ranksrgan train --preset"):
            a = shlex.split(line)
            presets[a[a.index("--preset") + 1]] = json.loads(a[a.index("--preset-json") + 1])
        elif line.startswith("ranksrgan ranker train"):
            a = shlex.split(line)
            rankers[a[a.index("--name") + 1]] = int(a[a.index("--iterations") + 1])
    assert presets["ranksrgan_niqe"]["preset"]["iterations"] == 50_000
    assert presets["ranksrgan_niqe"]["preset"]["scheduler"]["milestones"] == [
        5000, 10000, 20000, 30000]
    assert presets["srresnet"]["preset"]["iterations"] == 100_000
    assert rankers == {"niqe": 40_000, "ma": 40_000, "pi": 40_000}
