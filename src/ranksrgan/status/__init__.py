"""Which targets of a config are done, restored from DVC, or pending (``ranksrgan status``).

The targets of each stage are the files ``rule all`` collects from that stage's
``<stage>_targets()`` in ``workflow/rules/`` (tests/test_status.py keeps the two equal on the
shipped configs). A target is

- ``pulled``: present and byte-identical to the version dvc.lock records for the stage
  folder holding it (restored by ``dvc pull``, or committed there after a local run);
- ``done``: present, but not (or not verifiably) the dvc.lock version: computed here;
- ``pending``: missing. ``in_dvc`` then says whether dvc.lock records a version that
  ``dvc pull`` can restore.

Checking against dvc.lock reads the stage folder's ``.dir`` listing (relative path -> md5)
from the local DVC cache; only the target files themselves are hashed, so this is cheap.
No Snakemake and no DVC import: the module reads dvc.lock, the DVC config and the cache.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ranksrgan.errors import RankSRGANError

# Stages in the order the DAG first reaches them; the folder each one writes under results_dir
# (dvc.yaml tracks these folders as whole outs).
STAGES = ("data", "sr", "score", "rankdata", "ranker", "train", "report")
STAGE_FOLDERS = {
    "data": "data",
    "sr": "sr",
    "score": "scores",
    "rankdata": "rankdata",
    "ranker": "ranker",
    "train": "train",
    "report": "report",
}
STATES = ("done", "pulled", "pending")


def stage_targets(config: dict[str, Any]) -> dict[str, list[str]]:
    """Target paths of each stage, as ``rule all`` collects them (paths as in the config)."""
    r = config["results_dir"]
    sr = config.get("sr") or {}
    score = config.get("score") or {}
    train = config.get("train") or {}
    return {
        "data": [f"{r}/data/{d}/manifest.parquet" for d in config["data"]["datasets"]],
        "sr": [
            f"{r}/sr/{m}/{d}/manifest.parquet"
            for m in sr.get("methods", [])
            for d in sr.get("datasets", [])
        ],
        "score": [
            f"{r}/scores/{d}/{m}.parquet"
            for d in score.get("datasets", [])
            for m in score.get("methods", [])
        ],
        "rankdata": [
            f"{r}/rankdata/{n}/{f}"
            for n in config.get("rankdata") or {}
            for f in ("index.parquet", "images.parquet", "stats.json")
        ],
        "ranker": [
            f"{r}/ranker/{n}/{f}"
            for n in config.get("ranker") or {}
            for f in ("model.pth", "eval.parquet", "eval_summary.json")
        ],
        "train": [f"{r}/train/{p}/G.pth" for p in train.get("targets", [])],
        "report": [f"{r}/report/index.html"] if config.get("report") else [],
    }


def stage_folder(config: dict[str, Any], stage: str) -> str:
    """The folder a stage writes (one DVC out in dvc.yaml)."""
    return f"{config['results_dir']}/{STAGE_FOLDERS[stage]}"


@dataclass(frozen=True)
class TargetState:
    """One target file and what is known about it."""

    stage: str
    path: str
    state: str  # one of STATES
    in_dvc: bool  # dvc.lock records a version of it (or of its stage folder)


def md5_file(path: Path, chunk: int = 1 << 20) -> str:
    """MD5 of a file's bytes (DVC 3's file hash)."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _dvc_cache_dir(root: Path) -> Path:
    """The DVC cache folder: ``[cache] dir`` of .dvc/config(.local), else .dvc/cache."""
    cache = root / ".dvc" / "cache"
    for name in ("config", "config.local"):
        path = root / ".dvc" / name
        if not path.is_file():
            continue
        parser = configparser.ConfigParser()
        try:
            parser.read(path)
        except configparser.Error as exc:
            raise RankSRGANError(f"{path}: unreadable DVC config ({exc})") from None
        if parser.has_option("cache", "dir"):
            value = Path(parser.get("cache", "dir").strip("'\""))
            # DVC resolves a relative cache dir against the .dvc folder
            cache = value if value.is_absolute() else (root / ".dvc" / value)
    return cache


def dvc_lock_outs(root: Path) -> dict[str, str]:
    """Every out path recorded in ``root/dvc.lock`` -> its md5 (``...dir`` for folders)."""
    lock = root / "dvc.lock"
    if not lock.is_file():
        return {}
    try:
        data = yaml.safe_load(lock.read_text()) or {}
    except yaml.YAMLError as exc:
        raise RankSRGANError(f"{lock}: invalid YAML ({exc})") from None
    outs = {}
    for stage in (data.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if out.get("md5"):
                outs[os.path.normpath(out["path"])] = out["md5"]
    return outs


def _dir_listing(cache: Path, md5: str) -> dict[str, str] | None:
    """relpath -> md5 of a DVC folder out, from the cache's ``.dir`` object (None: absent)."""
    digest = md5.removesuffix(".dir")
    for path in (cache / "files" / "md5" / digest[:2] / (digest[2:] + ".dir"),
                 cache / digest[:2] / (digest[2:] + ".dir")):  # DVC 3, DVC 2 layouts
        if path.is_file():
            try:
                entries = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise RankSRGANError(f"{path}: corrupt DVC .dir object ({exc})") from None
            return {e["relpath"]: e["md5"] for e in entries}
    return None


def target_states(config: dict[str, Any], root: str | os.PathLike = ".") -> list[TargetState]:
    """The state of every stage target of ``config``; relative paths resolve against ``root``
    (the checkout: dvc.lock and .dvc/ live there)."""
    root = Path(root)
    outs = dvc_lock_outs(root)
    cache = _dvc_cache_dir(root)
    listings: dict[str, dict[str, str] | None] = {}
    states = []
    for stage, targets in stage_targets(config).items():
        folder = os.path.normpath(stage_folder(config, stage))
        locked = outs.get(folder)
        if locked and folder not in listings:
            listings[folder] = _dir_listing(cache, locked) if locked.endswith(".dir") else None
        listing = listings.get(folder) if locked else None
        for target in targets:
            path = root / target
            rel = os.path.relpath(os.path.normpath(target), folder).replace(os.sep, "/")
            expected = listing.get(rel) if listing is not None else None
            # without the listing (not in the local cache) the folder's lock entry still
            # says dvc pull can bring the target back
            in_dvc = bool(locked) and (listing is None or expected is not None)
            if not path.is_file():
                state = "pending"
            elif expected is not None and md5_file(path) == expected:
                state = "pulled"
            else:
                state = "done"
            states.append(TargetState(stage, target, state, in_dvc))
    return states


def summarise(states: list[TargetState]) -> dict[str, dict[str, int]]:
    """Per stage: how many targets are in each state."""
    out: dict[str, dict[str, int]] = {s: dict.fromkeys(STATES, 0) for s in STAGES}
    for st in states:
        out[st.stage][st.state] += 1
    return out


def format_status(states: list[TargetState], verbose: bool = True) -> str:
    """A table per stage (counts) followed, when ``verbose``, by one line per target."""
    summary = summarise(states)
    head = f"{'stage':<10}{'done':>6}{'pulled':>8}{'pending':>9}"
    lines = [head + "  (pending that dvc pull restores)"]
    for stage in STAGES:
        c = summary[stage]
        pullable = sum(1 for s in states if s.stage == stage and s.state == "pending" and s.in_dvc)
        lines.append(
            f"{stage:<10}{c['done']:>6}{c['pulled']:>8}{c['pending']:>9}  ({pullable})"
        )
    if verbose:
        lines.append("")
        for s in states:
            note = " (in dvc.lock: dvc pull)" if s.state == "pending" and s.in_dvc else ""
            lines.append(f"{s.stage:<10}{s.state:<8}{s.path}{note}")
    return "\n".join(lines)
