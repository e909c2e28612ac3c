"""Planning never imports torch: the rule files import only torch-free helpers (layout, config,
presets, the metrics version), so `snakemake -n` on the paper config works with torch made
unimportable, and the targets `rule all` collects are the layout's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import REPO

SNAKEMAKE = Path(sys.executable).parent / "snakemake"


@pytest.fixture(scope="module")
def no_torch(tmp_path_factory) -> dict[str, str]:
    """An environment whose PYTHONPATH puts a `torch` package first that fails to import."""
    root = tmp_path_factory.mktemp("notorch")
    (root / "torch").mkdir()
    (root / "torch" / "__init__.py").write_text(
        'raise ImportError("torch imported while planning")\n'
    )
    return {**os.environ, "PYTHONPATH": str(root)}


def test_paper_dag_plans_with_torch_unimportable(no_torch):
    proc = subprocess.run(
        [str(SNAKEMAKE), "-n", "--forceall", "--nolock", "--rerun-incomplete", "--configfile",
         "config/config.yaml"],
        cwd=REPO, env=no_torch, capture_output=True, text=True, timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "torch imported while planning" not in out
    assert "train_ranksrgan_niqe" in out  # the whole chain was planned, not an empty DAG


def test_workflow_helpers_import_without_torch(no_torch):
    code = (
        "import ranksrgan.layout, ranksrgan.config, ranksrgan.presets, "
        "ranksrgan.metric_version, ranksrgan.slurm_fit, ranksrgan.io.runlock; "
        "import sys; assert 'torch' not in sys.modules"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=no_torch, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", ["demo", "config"])
def test_layout_targets_are_the_workflow_targets(name):
    """`rule all`'s inputs (the rule files' `<stage>_targets()`) equal layout.stage_targets."""
    from ranksrgan.layout import stage_targets

    cfg = yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text())
    want = sorted(t for ts in stage_targets(cfg).values() for t in ts)
    proc = subprocess.run(
        [str(SNAKEMAKE), "-n", "--forceall", "--nolock", "--configfile", f"config/{name}.yaml",
         "--rerun-incomplete",
         "--detailed-summary", "all"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    listed = set(proc.stdout.split())
    assert want and set(want) <= listed, sorted(set(want) - listed)
