"""DVC round trip (issue 17.5): the session's demo-DAG run is committed to DVC in a copy of
the checkout, pushed to a local remote, cloned fresh with git, pulled, and then the README's
run command plans NOTHING: `make pull` re-stamps the restored outputs (`snakemake --touch`)
so that their new mtimes do not make Snakemake recompute. And (issue 22.2, 22.14) `make pull`
fails naming the file when the remote is corrupt, naming the remote when it is missing
(helpers shared in tests/support/dvc_remote.py).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ranksrgan.layout import STAGES
from ranksrgan.status import target_states
from tests.support.dvc_remote import (
    BIN,
    CI_STAGES,
    DVC,
    REPO,
    Published,
    clone,
    make_pull,
    publish,
    remote_object,
    run,
)

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

    # 1-2. a git repository holding the checkout's state and dvc.lock of the run, pushed
    published = publish(tmp_path, demo_run.results)
    lock = yaml.safe_load((published.origin / "dvc.lock").read_text())["stages"]
    assert set(lock) == set(CI_STAGES)  # the demo and paper runs have no entry
    assert all(e["outs"][0]["md5"].endswith(".dir") for e in lock.values())  # folder outs

    # 3. a fresh clone has no results; `make pull` (dvc pull + snakemake --touch) restores them
    fresh = clone(published, tmp_path / "clone")
    assert not (fresh / results).exists()
    before = {s.state for s in target_states(demo_run.cfg, fresh)}
    assert before == {"pending"}
    pulled = make_pull(fresh)
    assert pulled.returncode == 0, (pulled.stdout + pulled.stderr)[-4000:]
    assert "are dvc.lock's version" in pulled.stdout  # the check after the pull ran
    editable = next((BIN.parent / "lib").glob("python3*/site-packages/__editable__*ranksrgan*.pth"),
                    None)
    assert editable is None or str(fresh) not in editable.read_text()

    # 4. the README's run command plans nothing
    plan = run([str(BIN / "snakemake"), "-n", "--cores", "all", "--resources", "gpu=1",
                "--configfile", config], fresh)
    assert "Nothing to be done" in plan, plan[-3000:]

    # the restored files are the run's bytes, and status says "pulled" for every target
    for rel in ("report/index.html", "train/ranksrgan_niqe/G.pth", "rankdata/niqe/index.parquet"):
        assert _md5(fresh / results / rel) == _md5(demo_run.results / rel)
    states = target_states(demo_run.cfg, fresh)
    assert {s.state for s in states} == {"pulled"}, [s for s in states if s.state != "pulled"]
    out = run([str(BIN / "ranksrgan"), "status", "--config", config, "--brief"], fresh)
    assert "report         0       1        0" in out, out
    # a target changed after the pull is no longer dvc.lock's version: "modified"
    page = fresh / results / "report" / "index.html"
    page.write_text(page.read_text() + "<!-- edited -->")
    report = [s for s in target_states(demo_run.cfg, fresh) if s.stage == "report"]
    assert [(s.state, s.in_dvc) for s in report] == [("modified", True)]
    # a changed upstream output: Snakemake would rerun its consumers, so they are "stale"
    # (issue 22.13), not "pulled". (A mere touch is not enough: Snakemake's metadata has the
    # input's checksum, and it plans nothing when only the time changed.)
    index = fresh / results / "rankdata" / "niqe" / "index.parquet"
    with open(index, "ab") as f:
        f.write(b"changed")
    states = {s.path: s for s in target_states(demo_run.cfg, fresh)}
    assert states[f"{results}/rankdata/niqe/index.parquet"].state == "modified"
    ranker = [s for s in states.values() if s.stage == "ranker"]
    assert {s.state for s in ranker} == {"stale"}, ranker


@pytest.fixture(scope="module")
def fake_published(tmp_path_factory) -> Published:
    """A stand-in ci run (every target a few bytes: no DAG to run), published once per module
    for the quick checks of `make pull` against a corrupt or missing remote."""
    return publish(tmp_path_factory.mktemp("dvc-fake"))


def _corrupt(path: Path, how: str) -> None:
    """Flip one byte in the middle of ``path``, or cut its last 100 bytes."""
    path.chmod(0o644)  # DVC leaves its objects read-only
    data = bytearray(path.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        del data[-100:]
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("verify", [True, False], ids=["dvc-verify", "no-dvc-verify"])
@pytest.mark.parametrize(("rel", "how"), [("ranker/niqe/model.pth", "flip"),
                                          ("rankdata/niqe/index.parquet", "truncate")])
def test_make_pull_of_a_corrupt_remote_fails_naming_the_file(fake_published, tmp_path, rel, how,
                                                              verify):
    """Issue 22.2: a remote object flipped or truncated after the push. With the remote's
    `verify` (.dvc/config) DVC drops the object and names only the stage folder; without it
    (another remote) the bad bytes land. Either way `make pull` fails naming the file and
    touches nothing, and status does not say "pulled" or "done" for it."""
    remote = tmp_path / "remote"  # a copy: the published remote serves the other cases
    shutil.copytree(fake_published.remote, remote)
    _corrupt(remote_object(fake_published, rel, remote), how)
    fresh = clone(fake_published, tmp_path / "clone")
    run([DVC, "remote", "modify", "--local", "demo", "url", str(remote)], fresh)
    run([DVC, "remote", "modify", "--local", "demo", "verify", str(verify).lower()], fresh)

    pulled = make_pull(fresh)
    out = pulled.stdout + pulled.stderr
    assert pulled.returncode != 0, out[-3000:]
    errors = [ln for ln in out.splitlines() if ln.startswith("error: ")]
    assert errors and f"{fake_published.results}/{rel}" in errors[-1], out[-3000:]
    assert ("is corrupt" if verify else "dvc.lock records") in errors[-1], errors[-1]
    assert "snakemake --touch" not in out  # make stopped before re-stamping anything
    target = f"{fake_published.results}/{rel}"
    (state,) = [s for s in target_states(fake_published.cfg, fresh, plan=False)
                if s.path == target]
    assert state.state == ("pending" if verify else "modified"), state


def test_make_pull_without_the_remote_folder_says_so(fake_published, tmp_path):
    """Issue 22.14: no remote folder: one line naming it, exit status 2 from make (the
    command's 1), and DVC is not run ("Everything is up to date" then "Checkout failed")."""
    fresh = clone(fake_published, tmp_path / "clone")
    missing = tmp_path / "no-such-remote"
    run([DVC, "remote", "modify", "--local", "demo", "url", str(missing)], fresh)
    pulled = make_pull(fresh)
    out = pulled.stdout + pulled.stderr
    assert pulled.returncode != 0, out[-3000:]
    assert f"error: DVC remote 'demo': {missing} does not exist" in out, out[-3000:]
    assert "Everything is up to date" not in out and "Checkout failed" not in out, out
