"""Shared DVC round-trip helpers: a git + DVC copy of the checkout whose ci run is committed
and pushed to a local remote, fresh clones of it, and `make pull` in a clone.

tests/workflow/test_dvc_roundtrip.py publishes the session's real ci run (``demo_run``) with
them, and (fixture ``fake_published``) a stand-in run (every target of config/ci.yaml, a few bytes
each: no DAG to run) for the quick checks of what `make pull` does with a corrupt or missing
remote.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from ranksrgan.layout import STAGES, stage_targets
from tests.support import REPO

BIN = Path(sys.executable).parent
DVC = str(BIN / "dvc")
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org",
       "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]
CI_STAGES = [f"{s}@ci" for s in STAGES]


def run(cmd: list[str], cwd: Path, timeout: float = 300, check: bool = True) -> str:
    """Run ``cmd`` in ``cwd``; stdout + stderr (with ``check``, assert exit status 0)."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    if check:
        assert proc.returncode == 0, f"{' '.join(map(str, cmd))} (in {cwd}):\n{out[-4000:]}"
    return out


def checkout_copy(dest: Path) -> None:
    """The working tree as git sees it (tracked + untracked, not ignored), into ``dest``."""
    files = run(["git", "ls-files", "-co", "--exclude-standard", "-z"], REPO).split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


@dataclass(frozen=True)
class Published:
    """A git repository (``origin``) whose ci run is in dvc.lock and in ``remote``."""

    origin: Path
    remote: Path
    results: str  # the ci run's results_dir, relative to the checkout

    @property
    def cfg(self) -> dict:
        """config/ci.yaml as the origin has it."""
        return yaml.safe_load((self.origin / "config" / "ci.yaml").read_text())


def publish(tmp: Path, results: Path | None = None) -> Published:
    """Commit the ci run in ``results`` (None: a stand-in, :func:`fake_ci_results`) to DVC in
    a copy of the checkout under ``tmp``, push it to ``tmp/remote``, commit dvc.lock."""
    origin, remote = tmp / "origin", tmp / "remote"
    checkout_copy(origin)
    run([*GIT, "init", "-q"], origin)
    run([DVC, "remote", "modify", "demo", "url", str(remote)], origin)
    cfg = yaml.safe_load((origin / "config" / "ci.yaml").read_text())
    if results is None:
        fake_ci_results(origin, cfg)
    else:
        shutil.copytree(results, origin / cfg["results_dir"])
    run([*GIT, "add", "-A"], origin)
    run([*GIT, "commit", "-qm", "checkout"], origin)
    # record the outputs in dvc.lock (no recomputation), push them, commit the lock
    run([DVC, "commit", "-f", *CI_STAGES], origin)
    run([DVC, "push", *CI_STAGES], origin)
    run([*GIT, "add", "dvc.lock"], origin)
    run([*GIT, "commit", "-qm", "dvc.lock of the ci run"], origin)
    return Published(origin, remote, cfg["results_dir"])


def fake_ci_results(root: Path, cfg: dict) -> None:
    """Every stage target of ``cfg`` under ``root``, a few distinct bytes each (Parquet-shaped
    or JSON where the name says so): enough for DVC, not for Snakemake."""
    for targets in stage_targets(cfg).values():
        for target in targets:
            path = root / target
            path.parent.mkdir(parents=True, exist_ok=True)
            body = (target * 8).encode()
            if path.suffix == ".parquet":
                body = b"PAR1" + body + b"PAR1"
            elif path.suffix == ".json":
                body = json.dumps({"stand_in": target}).encode()
            path.write_bytes(body)


def clone(published: Published, dest: Path) -> Path:
    """A fresh git clone of the origin (no results, no DVC cache)."""
    run([*GIT, "clone", "-q", str(published.origin), str(dest)], dest.parent)
    return dest


def make_pull(
    clone_dir: Path, run_name: str = "ci", timeout: float = 600
) -> subprocess.CompletedProcess:
    """``make pull RUN=<run_name>`` in ``clone_dir`` with this session's venv."""
    # `-o STAMP`: the clone's pyproject.toml is newer than the shared venv's install stamp;
    # without it make would reinstall the venv in editable mode pointing at this tmp clone.
    stamp = BIN.parent / ".installed-stamp"
    return subprocess.run(
        ["make", "-o", str(stamp), "pull", f"RUN={run_name}", f"VENV={BIN.parent}"],
        cwd=clone_dir, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
    )


def remote_object(published: Published, rel: str, remote: Path | None = None) -> Path:
    """The copy of ``<results>/<rel>`` in ``remote`` (None: the published one; found through
    its folder's .dir listing)."""
    remote = remote or published.remote
    stage_dir, inner = rel.split("/", 1)
    lock = yaml.safe_load((published.origin / "dvc.lock").read_text())["stages"]
    folder = f"{published.results}/{stage_dir}"
    (out,) = [e["outs"][0] for e in lock.values() if e["outs"][0]["path"] == folder]
    digest = out["md5"].removesuffix(".dir")
    listing = json.loads(
        (remote / "files" / "md5" / digest[:2] / f"{digest[2:]}.dir").read_text())
    (md5,) = [e["md5"] for e in listing if e["relpath"] == inner]
    return remote / "files" / "md5" / md5[:2] / md5[2:]
