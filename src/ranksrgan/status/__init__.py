"""Which targets of a config are done, restored from DVC, stale, or pending (``ranksrgan status``).

The targets of each stage are the files ``rule all`` collects from that stage's
``<stage>_targets()`` in ``workflow/rules/`` (tests/workflow/test_paper_planning.py keeps the
two equal on the demo and paper configs). A target is, first match wins:

- ``pending``: missing. ``in_dvc`` then says whether dvc.lock records a version that
  ``dvc pull`` can restore;
- ``modified``: dvc.lock records a version of it and its md5 differs (recomputed or edited
  here, or a corrupt pull);
- ``broken``: not a whole file of its kind (0 bytes; a Parquet file without its ``PAR1``
  footer, a zip-format ``.pth`` without its end record, ``.json`` that does not parse), e.g.
  truncated; Snakemake would not notice, it only compares times;
- ``stale``: Snakemake would rerun the job that writes it (its own up-to-date test:
  ``snakemake --summary`` plans an update: newer or changed inputs, params, code);
- ``pulled``: byte-identical to dvc.lock's version (and, when Snakemake is asked, it plans
  nothing for it);
- ``done``: Snakemake plans nothing for it (computed here);
- ``present``: exists, but Snakemake was not asked (``plan=False``, ``--no-snakemake``, or no
  Snakefile/snakemake found): existence is all that was checked.

Checking against dvc.lock reads the stage folder's ``.dir`` listing (relative path -> md5)
from the local DVC cache; only the target files themselves are hashed, so this is cheap.
No DVC import here: the module reads dvc.lock, the DVC config and the cache
(:mod:`ranksrgan.status.pull` checks a ``dvc pull`` and does use DVC).
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ranksrgan.errors import RankSRGANError
from ranksrgan.layout import STAGES, Layout, stage_targets

# the first three are the table's historical columns; the rest follow them
STATES = ("done", "pulled", "pending", "present", "stale", "modified", "broken")


def stage_folder(config: dict[str, Any], stage: str) -> str:
    """The folder a stage writes (one DVC out in dvc.yaml)."""
    return Layout.of(config).stage_folder(stage)


@dataclass(frozen=True)
class TargetState:
    """One target file and what is known about it."""

    stage: str
    path: str
    state: str  # one of STATES
    in_dvc: bool  # dvc.lock records a version of it (or of its stage folder)
    reason: str = ""  # why modified / broken / stale (empty otherwise)


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


def file_defect(path: Path) -> str | None:
    """Why ``path`` is not a whole file of its kind (None: no defect found).

    Cheap structural checks only (a few bytes at either end, or a small JSON parse): they
    catch empty and truncated files, which Snakemake's time-based test never sees; a flipped
    byte inside a file needs its hash (dvc.lock).
    """
    size = path.stat().st_size
    if size == 0:
        return "empty file (0 bytes)"
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        with open(path, "rb") as f:
            start = f.read(4)
            f.seek(max(size - 4, 0))
            end = f.read(4)
        if start != b"PAR1" or end != b"PAR1" or size < 12:
            return "not a whole Parquet file (PAR1 header or footer missing: truncated?)"
    elif suffix == ".pth":
        with open(path, "rb") as f:
            zipped = f.read(2) == b"PK"
        # torch.save's zip format (the default since torch 1.6); a legacy pickle has no end
        # record to check
        if zipped and not zipfile.is_zipfile(path):
            return "not a whole torch zip archive (end record missing: truncated?)"
    elif suffix == ".json" and size < (64 << 20):
        try:
            json.loads(path.read_bytes())
        except ValueError:
            return "not valid JSON (truncated?)"
    return None


def default_snakefile(root: str | os.PathLike = ".") -> Path | None:
    """``root/workflow/Snakefile``, else this package's checkout's (None: neither exists).

    A run folder laid out like a checkout but without the workflow (tests/support/demo_dag.py runs
    the repository's Snakefile with ``--directory`` there) is planned with the latter.
    """
    for candidate in (Path(root) / "workflow" / "Snakefile",
                      Path(__file__).resolve().parents[3] / "workflow" / "Snakefile"):
        if candidate.is_file():
            return candidate
    return None


def snakemake_executable() -> str | None:
    """The ``snakemake`` next to this Python (same environment), else the one on PATH."""
    here = Path(sys.executable).parent / "snakemake"
    return str(here) if here.is_file() else shutil.which("snakemake")


def snakemake_plan(
    config: dict[str, Any] | str | os.PathLike,
    root: str | os.PathLike = ".",
    snakefile: str | os.PathLike | None = None,
) -> dict[str, str] | None:
    """Snakemake's own verdict on every output of the config's DAG: normalised path -> ``""``
    (up to date) or the reason it would rerun (``snakemake --summary``'s status column).

    ``config`` is the config file, or a loaded config (written to a temporary file for
    Snakemake). Runs ``snakemake --summary --nolock`` with ``--directory root``, so the run's
    ``.snakemake`` metadata (params/code/input triggers) counts as it does for a real run.
    None when there is no Snakefile or no snakemake to ask.
    """
    snakefile = Path(snakefile) if snakefile is not None else default_snakefile(root)
    exe = snakemake_executable()
    if snakefile is None or not snakefile.is_file() or exe is None:
        return None
    source = "the config" if isinstance(config, dict) else str(config)
    with tempfile.TemporaryDirectory(prefix="ranksrgan-status-") as tmp:
        if isinstance(config, dict):
            configfile = Path(tmp) / "config.yaml"
            configfile.write_text(yaml.safe_dump(config, sort_keys=False))
        else:
            configfile = Path(config).resolve()
        cmd = [exe, "-s", str(Path(snakefile).resolve()), "--directory", str(Path(root).resolve()),
               "--configfile", str(configfile), "--summary", "--nolock"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit status {proc.returncode}"
        raise RankSRGANError(f"{source}: snakemake --summary failed in {root}: {last}")
    plan: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) != 6 or fields[0] == "output_file":
            continue
        path, _date, _rule, _log, status, update = fields
        # the status column is "ok" when only an upstream job's rerun drags this one along
        reason = status if status != "ok" else "an upstream job reruns"
        plan[os.path.normpath(path)] = reason if update == "update pending" else ""
    return plan


def target_states(
    config: dict[str, Any],
    root: str | os.PathLike = ".",
    *,
    plan: bool = True,
    configfile: str | os.PathLike | None = None,
    snakefile: str | os.PathLike | None = None,
) -> list[TargetState]:
    """The state of every stage target of ``config`` (module docstring); relative paths
    resolve against ``root`` (the checkout: dvc.lock and .dvc/ live there).

    ``plan``: ask Snakemake which targets it would rerun (:func:`snakemake_plan`, with
    ``configfile`` if given, else ``config`` itself); without it "done" becomes "present".
    """
    root = Path(root)
    outs = dvc_lock_outs(root)
    cache = _dvc_cache_dir(root)
    listings: dict[str, dict[str, str] | None] = {}
    found: list[tuple[str, str, str | None, bool, str | None]] = []
    for stage, targets in stage_targets(config).items():
        folder = os.path.normpath(stage_folder(config, stage))
        locked = outs.get(folder)
        if locked and folder not in listings:
            listings[folder] = _dir_listing(cache, locked) if locked.endswith(".dir") else None
        listing = listings.get(folder) if locked else None
        for target in targets:
            rel = os.path.relpath(os.path.normpath(target), folder).replace(os.sep, "/")
            expected = listing.get(rel) if listing is not None else None
            # without the listing (not in the local cache) the folder's lock entry still
            # says dvc pull can bring the target back
            in_dvc = bool(locked) and (listing is None or expected is not None)
            found.append((stage, target, expected, in_dvc, None))
    verdicts = None
    if plan and any((root / t).is_file() for _, t, _, _, _ in found):
        verdicts = snakemake_plan(configfile if configfile is not None else config, root,
                                  snakefile)
    states = []
    for stage, target, expected, in_dvc, _ in found:
        path = root / target
        state, reason = _state_of(path, target, expected, verdicts)
        states.append(TargetState(stage, target, state, in_dvc, reason))
    return states


def _state_of(
    path: Path, target: str, expected: str | None, verdicts: dict[str, str] | None
) -> tuple[str, str]:
    """(state, reason) of one target; the order of the checks is the module docstring's."""
    if not path.is_file():
        return "pending", ""
    if expected is not None:
        have = md5_file(path)
        if have != expected:
            return "modified", f"md5 {have}, dvc.lock records {expected}"
    defect = file_defect(path)
    if defect:
        return "broken", defect
    verdict = None if verdicts is None else verdicts.get(os.path.normpath(target))
    if verdict:
        return "stale", f"Snakemake would rerun it: {verdict}"
    if expected is not None:
        return "pulled", ""
    return ("done", "") if verdict is not None else ("present", "")


def summarise(states: list[TargetState]) -> dict[str, dict[str, int]]:
    """Per stage: how many targets are in each state."""
    out: dict[str, dict[str, int]] = {s: dict.fromkeys(STATES, 0) for s in STAGES}
    for st in states:
        out[st.stage][st.state] += 1
    return out


def format_status(states: list[TargetState], verbose: bool = True) -> str:
    """A table per stage (counts) followed, when ``verbose``, by one line per target."""
    summary = summarise(states)
    head = (f"{'stage':<10}{'done':>6}{'pulled':>8}{'pending':>9}{'present':>9}{'stale':>7}"
            f"{'modified':>10}{'broken':>8}")
    lines = [head + "  (pending that dvc pull restores)"]
    for stage in STAGES:
        c = summary[stage]
        pullable = sum(1 for s in states if s.stage == stage and s.state == "pending" and s.in_dvc)
        lines.append(
            f"{stage:<10}{c['done']:>6}{c['pulled']:>8}{c['pending']:>9}{c['present']:>9}"
            f"{c['stale']:>7}{c['modified']:>10}{c['broken']:>8}  ({pullable})"
        )
    if any(s.state == "present" for s in states):
        lines.append("present: the file exists; Snakemake was not asked whether it is up to date")
    if verbose:
        lines.append("")
        for s in states:
            note = " (in dvc.lock: dvc pull)" if s.state == "pending" and s.in_dvc else ""
            if s.reason:
                note += f" ({s.reason})"
            lines.append(f"{s.stage:<10}{s.state:<9}{s.path}{note}")
    return "\n".join(lines)
