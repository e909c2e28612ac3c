"""DVC round trip (issue 17.5): the session's demo-DAG run is committed to DVC in a copy of
the checkout, pushed to a local remote, cloned fresh with git, pulled, and then the README's
run command plans NOTHING: `make pull` re-stamps the restored outputs (`snakemake --touch`)
so that their new mtimes do not make Snakemake recompute.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ranksrgan.status import STAGES, target_states

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org",
       "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]


def _run(cmd: list[str], cwd: Path, timeout: float = 300) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} (in {cwd}):\n{out[-4000:]}"
    return out


def _checkout_copy(dest: Path) -> None:
    """The working tree as git sees it (tracked + untracked, not ignored), into ``dest``."""
    files = _run(["git", "ls-files", "-co", "--exclude-standard", "-z"], REPO).split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


# the rule that writes each stage's targets (what its DVC cmd must plan), and rules it must not
STAGE_RULES = {"data": "prepare_dataset", "sr": "sr_gather", "score": "score_gather",
               "rankdata": "rankdata_gather", "ranker": "ranker_niqe",
               "train": "train_ranksrgan_niqe", "report": "report_build"}


def test_dvc_stage_commands_plan_their_stage(tmp_path):
    """Each ci stage's cmd, as DVC resolves it from dvc.yaml, is a Snakemake run that plans
    that stage's targets (a dry run from an empty results folder), and the data stage's
    plans nothing downstream of it."""
    from dvc.repo import Repo

    cmds = {s.name.split("@")[0]: s.cmd for s in Repo(str(REPO)).index.stages
            if s.name.endswith("@ci")}
    assert set(cmds) == set(STAGES)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    for stage in ("data", "ranker", "report"):
        cmd = f"{cmds[stage]} -n --nolock --quiet rules --directory {REPO}"
        proc = subprocess.run(["bash", "-c", cmd], cwd=REPO, capture_output=True, text=True,
                              env=env, timeout=120)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-3000:]
        assert f"\n{STAGE_RULES[stage]} " in out, (stage, out[-3000:])
        if stage == "data":
            assert "sr_shard" not in out and "report_build" not in out


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_dvc_push_clone_pull_then_nothing_to_recompute(demo_run, tmp_path):
    config = demo_run.config  # config/ci.yaml: dvc.yaml's "ci" run
    results = demo_run.cfg["results_dir"]
    stages = [f"{s}@ci" for s in STAGES]
    remote = tmp_path / "remote"

    # 1. a git repository holding the checkout's state and the run's results
    origin = tmp_path / "origin"
    _checkout_copy(origin)
    _run([*GIT, "init", "-q"], origin)
    _run([str(BIN / "dvc"), "remote", "modify", "demo", "url", str(remote)], origin)
    shutil.copytree(demo_run.results, origin / results)
    _run([*GIT, "add", "-A"], origin)
    _run([*GIT, "commit", "-qm", "checkout"], origin)

    # 2. record the outputs in dvc.lock (no recomputation), push them, commit the lock
    _run([str(BIN / "dvc"), "commit", "-f", *stages], origin)
    lock = yaml.safe_load((origin / "dvc.lock").read_text())["stages"]
    assert set(lock) == set(stages)  # the demo and paper runs have no entry
    assert all(e["outs"][0]["md5"].endswith(".dir") for e in lock.values())  # folder outs
    _run([str(BIN / "dvc"), "push", *stages], origin)
    _run([*GIT, "add", "dvc.lock"], origin)
    _run([*GIT, "commit", "-qm", "dvc.lock of the ci run"], origin)

    # 3. a fresh clone has no results; `make pull` (dvc pull + snakemake --touch) restores them
    clone = tmp_path / "clone"
    _run([*GIT, "clone", "-q", str(origin), str(clone)], tmp_path)
    assert not (clone / results).exists()
    before = {s.state for s in target_states(demo_run.cfg, clone)}
    assert before == {"pending"}
    # `-o STAMP`: the clone's pyproject.toml is newer than the shared venv's install stamp;
    # without it make would reinstall the venv in editable mode pointing at this tmp clone.
    stamp = BIN.parent / ".installed-stamp"
    _run(["make", "-o", str(stamp), "pull", "RUN=ci", f"VENV={BIN.parent}"], clone, timeout=600)
    editable = next((BIN.parent / "lib").glob("python3*/site-packages/__editable__*ranksrgan*.pth"),
                    None)
    assert editable is None or str(clone) not in editable.read_text()

    # 4. the README's run command plans nothing
    plan = _run([str(BIN / "snakemake"), "-n", "--cores", "all", "--resources", "gpu=1",
                 "--configfile", config], clone)
    assert "Nothing to be done" in plan, plan[-3000:]

    # the restored files are the run's bytes, and status says "pulled" for every target
    for rel in ("report/index.html", "train/ranksrgan_niqe/G.pth", "rankdata/niqe/index.parquet"):
        assert _md5(clone / results / rel) == _md5(demo_run.results / rel)
    states = target_states(demo_run.cfg, clone)
    assert {s.state for s in states} == {"pulled"}, [s for s in states if s.state != "pulled"]
    out = _run([str(BIN / "ranksrgan"), "status", "--config", config, "--brief"], clone)
    assert "report         0       1        0" in out, out
    # a target changed after the pull is no longer dvc.lock's version: "done", not "pulled"
    page = clone / results / "report" / "index.html"
    page.write_text(page.read_text() + "<!-- edited -->")
    report = [s for s in target_states(demo_run.cfg, clone) if s.stage == "report"]
    assert [(s.state, s.in_dvc) for s in report] == [("done", True)]
