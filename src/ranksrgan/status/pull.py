"""Checks around ``dvc pull`` for ``make pull``: the remote is there, and what came back is
what dvc.lock records.

DVC alone does neither: a local remote folder that does not exist reads as an empty remote
("Everything is up to date", then "Checkout failed"), and without the remote's ``verify``
setting a corrupted object in the remote is copied into the cache and the workspace without a
word (with it, DVC drops the object and reports only "Checkout failed for ... <stage folder>").
:func:`check_remote` runs before the pull; :func:`verify_pull` afterwards hashes every file of
the pulled stage folders against their dvc.lock listing and names the first file that is not
dvc.lock's version, and why (for a local remote it also hashes the remote's copy, so that a
corrupt remote is told apart from a missing object).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ranksrgan.errors import RankSRGANError
from ranksrgan.status import (
    STAGES,
    _dir_listing,
    _dvc_cache_dir,
    dvc_lock_outs,
    md5_file,
    stage_folder,
)


def _repo_config(root: Path) -> Any:
    """DVC's merged configuration of the checkout at ``root`` (system, global, repo, local)."""
    from dvc.repo import Repo

    try:
        return Repo(str(root)).config
    except Exception as exc:  # DVC's errors (no repo, bad config) share no narrower base
        raise RankSRGANError(f"{Path(root) / '.dvc'}: {' '.join(str(exc).split())}") from None


def default_remote(root: str | os.PathLike = ".", name: str | None = None) -> tuple[str, str]:
    """(name, url) of the remote ``dvc pull`` uses (``name`` None: ``core.remote``); a local
    remote's url is an absolute path (DVC resolves it against the config file's folder)."""
    root = Path(root)
    config = _repo_config(root)
    name = name or config.get("core", {}).get("remote")
    if not name:
        raise RankSRGANError(f"{root / '.dvc' / 'config'}: no default DVC remote (core.remote)")
    remotes = config.get("remote", {})
    if name not in remotes:
        raise RankSRGANError(
            f"{root / '.dvc' / 'config'}: DVC remote '{name}' is not configured "
            f"(configured: {', '.join(sorted(remotes)) or 'none'})"
        )
    return name, str(remotes[name]["url"])


def _local_path(url: str) -> Path | None:
    """The folder of a local remote url (plain path or file://); None for other schemes."""
    if url.startswith("file://"):
        return Path(url[len("file://"):])
    if "://" in url:
        return None
    return Path(url)


def check_remote(root: str | os.PathLike = ".", name: str | None = None) -> str:
    """Raise one line naming the remote and its path when a local remote folder is missing;
    return its url. Other remotes (s3://, ssh://, ...) are left to ``dvc pull``."""
    name, url = default_remote(root, name)
    path = _local_path(url)
    if path is not None and not path.is_dir():
        raise RankSRGANError(
            f"DVC remote '{name}': {path} does not exist (nothing to pull from; "
            f"`dvc remote modify --local {name} url <folder>` points it elsewhere)"
        )
    return url


@dataclass(frozen=True)
class PullProblem:
    """One file of a pulled stage folder that is not dvc.lock's version."""

    path: str
    why: str

    def line(self) -> str:
        """``path: why``."""
        return f"{self.path}: {self.why}"


def _object_path(base: Path, md5: str) -> Path | None:
    """Where a DVC 3 (``files/md5/xx/...``) or DVC 2 (``xx/...``) store keeps object ``md5``."""
    for path in (base / "files" / "md5" / md5[:2] / md5[2:], base / md5[:2] / md5[2:]):
        if path.is_file():
            return path
    return None


def _why_absent(cache: Path, remote: Path | None, md5: str) -> str:
    """Why dvc pull did not restore a file whose dvc.lock md5 is ``md5``."""
    if _object_path(cache, md5) is not None:
        return "not checked out by dvc pull (its object is in the DVC cache)"
    if remote is None:
        return f"dvc pull did not restore it: object {md5} is missing or corrupt in the remote"
    obj = _object_path(remote, md5)
    if obj is None:
        return f"dvc pull did not restore it: object {md5} is missing from the remote {remote}"
    got = md5_file(obj)
    if got != md5:
        return (f"dvc pull did not restore it: the remote's copy {obj} is corrupt "
                f"(md5 {got}, dvc.lock records {md5})")
    return "dvc pull did not restore it (the remote's copy is intact: pull again)"


def verify_pull(
    config: dict[str, Any], stages: list[str], root: str | os.PathLike = "."
) -> list[PullProblem]:
    """Every file a pull of ``stages`` should have restored that is missing or differs from
    dvc.lock (empty: all there, byte-identical). Files outside the dvc.lock listing (computed
    here after the pull) are not looked at."""
    root = Path(root)
    outs = dvc_lock_outs(root)
    cache = _dvc_cache_dir(root)
    try:
        _, url = default_remote(root)
        remote = _local_path(url)
    except RankSRGANError:
        remote = None  # only used to explain a missing object
    problems: list[PullProblem] = []
    for stage in stages:
        folder = os.path.normpath(stage_folder(config, stage))
        locked = outs.get(folder)
        if not locked:
            raise RankSRGANError(
                f"{root / 'dvc.lock'}: no entry for {folder} (stage {stage}): that run's "
                "outputs were never published (dvc commit + dvc push)"
            )
        digest = locked.removesuffix(".dir")
        obj = _object_path(cache, digest + ".dir") if locked.endswith(".dir") else None
        if locked.endswith(".dir") and (obj is None or md5_file(obj) != digest):
            why = "missing from" if obj is None else "corrupt in"
            problems.append(PullProblem(
                folder, f"its file listing ({locked}) is {why} the DVC cache after the pull: "
                + _why_absent(cache, remote, digest + ".dir")))
            continue
        listing = _dir_listing(cache, locked) if locked.endswith(".dir") else None
        entries = listing if listing is not None else {"": digest}  # a single-file out
        for rel, md5 in sorted(entries.items()):
            path = root / folder / rel if rel else root / folder
            shown = os.path.join(folder, rel) if rel else folder
            if not path.is_file():
                problems.append(PullProblem(shown, _why_absent(cache, remote, md5)))
                continue
            got = md5_file(path)
            if got != md5:
                problems.append(PullProblem(
                    shown, f"md5 {got}, dvc.lock records {md5} (corrupt remote or cache?)"))
    return problems


def parse_stages(names: list[str]) -> list[str]:
    """Stage names from ``make pull``'s DVC targets (``data@ci`` or ``data``), in order."""
    stages = []
    for name in names:
        stage = name.split("@", 1)[0]
        if stage not in STAGES:
            raise RankSRGANError(
                f"--verify {name}: unknown stage '{stage}' (known: {', '.join(STAGES)})"
            )
        if stage not in stages:
            stages.append(stage)
    return stages or list(STAGES)


def pull_error(problems: list[PullProblem]) -> RankSRGANError:
    """One line: the first problem (corrupt remote copies first: the cause), and how many more."""
    ranked = sorted(problems, key=lambda p: ("corrupt" not in p.why, "missing" not in p.why))
    first = ranked[0]
    more = f" (and {len(problems) - 1} more file(s))" if len(problems) > 1 else ""
    return RankSRGANError(f"pulled outputs differ from dvc.lock: {first.line()}{more}")
