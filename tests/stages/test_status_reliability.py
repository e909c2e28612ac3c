"""`ranksrgan status` and dvc.yaml's stage commands (issue 22, round 3: items 2, 13, 15).

- a target whose md5 differs from dvc.lock is "modified", never "pulled" or "done";
- "done" is Snakemake's verdict: a 0-byte or truncated target is "broken", one Snakemake would
  rerun is "stale", and without asking Snakemake an existing target is only "present";
- a results_dir with a space stays one path through dvc.yaml's command; one starting with '-'
  is refused in one line naming the key.

All quick: no DAG runs (Snakemake plans or dry-runs only). The DVC round trips (corrupt or
missing remote under `make pull`) are in tests/workflow/test_dvc_roundtrip.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ranksrgan.status import target_states
from tests.support import REPO

BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def _ci() -> dict:
    return yaml.safe_load((REPO / "config" / "ci.yaml").read_text())


def _status(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "ranksrgan"), "status", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture()
def ci_root(tmp_path) -> Path:
    """An empty run folder laid out like a checkout (config/ copied; the repository's
    Snakefile plans it, as for tests/support/demo_dag.py)."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    return tmp_path


def test_a_target_that_differs_from_dvc_lock_is_modified(ci_root):
    """dvc.lock records the ranker folder (its .dir listing in the local cache); one target
    has other bytes than recorded: "modified" (with both md5s; it was "done"). The others are
    dvc.lock's bytes, but with no rank index Snakemake would rerun them: "stale"."""
    cfg = _ci()
    folder = ci_root / cfg["results_dir"] / "ranker"
    entries = []
    for rel in ("niqe/model.pth", "niqe/eval.parquet", "niqe/eval_summary.json"):
        body = b"PAR1 recorded PAR1" if rel.endswith(".parquet") else b'{"recorded": 1}'
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(body)
        entries.append({"md5": hashlib.md5(body).hexdigest(), "relpath": rel})
    listing = json.dumps(entries).encode()
    digest = hashlib.md5(listing).hexdigest()
    obj = ci_root / ".dvc" / "cache" / "files" / "md5" / digest[:2] / f"{digest[2:]}.dir"
    obj.parent.mkdir(parents=True)
    obj.write_bytes(listing)
    lock = {"schema": "2.0", "stages": {"ranker@ci": {"cmd": "x", "outs": [
        {"path": f"{cfg['results_dir']}/ranker", "hash": "md5", "md5": f"{digest}.dir"}]}}}
    (ci_root / "dvc.lock").write_text(yaml.safe_dump(lock))
    (folder / "niqe" / "model.pth").write_bytes(b'{"recorded": 2}')  # one byte flipped

    states = {s.path.rsplit("/", 1)[-1]: s for s in target_states(cfg, ci_root)
              if s.stage == "ranker"}
    assert states["model.pth"].state == "modified", states["model.pth"]
    assert entries[0]["md5"] in states["model.pth"].reason
    assert {states[n].state for n in ("eval.parquet", "eval_summary.json")} == {"stale"}


def test_done_is_snakemakes_verdict(ci_root):
    """A 0-byte index.parquet is "broken"; a Ranker model whose inputs Snakemake must still
    make is "stale" (both were "done": only existence was checked); without asking Snakemake
    the model is "present"."""
    results = ci_root / _ci()["results_dir"]
    index = results / "rankdata" / "niqe" / "index.parquet"
    model = results / "ranker" / "niqe" / "model.pth"
    for path in (index, model):
        path.parent.mkdir(parents=True, exist_ok=True)
    index.write_bytes(b"")
    model.write_bytes(b"not a zip: a legacy pickle has no end record to check")

    proc = _status("--config", "config/ci.yaml", "--root", str(ci_root), "--json", cwd=ci_root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    states = {s["path"]: s for s in map(json.loads, proc.stdout.splitlines())}
    rel = os.path.relpath
    assert states[rel(index, ci_root)]["state"] == "broken", states[rel(index, ci_root)]
    assert "0 bytes" in states[rel(index, ci_root)]["reason"]
    assert states[rel(model, ci_root)]["state"] == "stale", states[rel(model, ci_root)]
    assert {s["state"] for s in states.values()} <= {"pending", "broken", "stale"}

    quick = _status("--config", "config/ci.yaml", "--root", str(ci_root), "--no-snakemake",
                    cwd=ci_root)
    assert quick.returncode == 0, quick.stderr[-3000:]
    line = next(ln for ln in quick.stdout.splitlines() if ln.endswith("niqe/model.pth"))
    assert line.split()[:2] == ["ranker", "present"], line


def test_a_truncated_parquet_target_is_broken(ci_root):
    """Cut 100 bytes off a Parquet target: its PAR1 footer is gone, "broken" (Snakemake cannot
    tell; it was "done"). Whole, the index is "stale" here: its inputs are missing."""
    import pandas as pd

    cfg = _ci()
    target = f"{cfg['results_dir']}/rankdata/niqe/index.parquet"
    index = ci_root / target
    index.parent.mkdir(parents=True)
    pd.DataFrame({"x": range(200)}).to_parquet(index)
    whole = [s for s in target_states(cfg, ci_root) if s.path == target]
    assert [s.state for s in whole] == ["stale"]
    index.write_bytes(index.read_bytes()[:-100])
    cut = [s for s in target_states(cfg, ci_root) if s.path == target]
    assert [s.state for s in cut] == ["broken"], cut


def _stage_cmd(stage: str, config: Path) -> str:
    """dvc.yaml's command of ``<stage>@ci`` as DVC resolves it, run on ``config`` instead."""
    from dvc.repo import Repo

    (cmd,) = [s.cmd for s in Repo(str(REPO)).index.stages if s.name == f"{stage}@ci"]
    return cmd.replace("config/ci.yaml", str(config))


def _run_cmd(cmd: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", cmd], cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=180)


def test_dvc_stage_command_keeps_a_results_dir_with_a_space_whole(tmp_path):
    """The data stage's dvc.yaml command on a config whose results_dir has a space plans the
    data stage (dry run); the old `snakemake $(ranksrgan status ...)` split each target in two
    ('No rule to produce .../with')."""
    cfg = _ci()
    cfg["results_dir"] = str(tmp_path / "with space" / "ci")
    config = tmp_path / "ci.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = _stage_cmd("data", config) + f" -n --nolock --quiet rules --directory {REPO}"
    proc = _run_cmd(cmd, REPO)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "\nprepare_dataset " in out and "sr_shard" not in out, out[-3000:]
    assert not (tmp_path / "with space").exists()  # planned only


def test_results_dir_starting_with_a_dash_is_refused_in_one_line(tmp_path):
    """'-dstray' would reach Snakemake as its -d (working directory) option through the
    stage command; the schema refuses it, naming the file and the key, and nothing runs."""
    cfg = _ci()
    cfg["results_dir"] = "-dstray"
    config = tmp_path / "ci.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    work = tmp_path / "work"
    work.mkdir()
    proc = _run_cmd(_stage_cmd("data", config) + " -n", work)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith(f"error: {config}: config key 'results_dir'")
    assert list(work.iterdir()) == []  # no stray folder


def test_stage_command_without_targets_runs_nothing(tmp_path):
    """A config without a report section: the report stage's command must not fall back to
    Snakemake's default target (the whole DAG, which the old `snakemake $()` did)."""
    cfg = _ci()
    del cfg["report"]
    config = tmp_path / "ci.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = _run_cmd(_stage_cmd("report", config) + f" -n --quiet rules --directory {REPO}",
                    REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "has no targets" in proc.stderr and "Job stats" not in proc.stdout + proc.stderr
