"""When a checkpoint may be resumed: only when everything that shaped it is the same.

A checkpoint is a function of the run's settings AND of the files it read: the generator it
started from, the frozen Ranker and VGG19 of its losses, its training data (the GAN trainer)
or its rank index (the Ranker trainer). Keyed on the settings alone, a finished training rerun
after its Ranker changed "resumed" at its last iteration and exported the old generator again
beside a G.json naming the new Ranker. So both trainers key a checkpoint with
:func:`run_key` (one canonical sha256 per input: each setting's JSON, each file's bytes) and
ask :func:`resume_decision` whether to resume it; anything changed means starting over from
iteration 0, logged in one line naming what changed (never an error: the rerun is what the
changed inputs ask for, and the old checkpoint is simply overwritten by the first new one).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ranksrgan.io import sha256_file

# the checkpoint entry holding the key (a plain dict of str -> str | list | None)
KEY_FIELD = "run_key"

FileInput = str | os.PathLike | Sequence[str | os.PathLike] | None


def canonical_sha256(obj: Any) -> str:
    """sha256 of ``obj`` as canonical JSON (sorted keys, no spaces, tuples as lists)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def run_key(
    settings: Mapping[str, Any], files: Mapping[str, FileInput] | None = None
) -> dict[str, Any]:
    """The resume key of a run: ``{name: sha256}`` for each setting and each input file.

    ``settings``: JSON-able values (options dicts), hashed canonically. ``files``: a path
    (its bytes' sha256), a sequence of paths (a list of sha256s, in order: the order of the
    training manifests decides which image a sample index picks), or None (no such input:
    a random stand-in, a loss that is off). Names must be unique across both.
    """
    files = files or {}
    clash = set(settings) & set(files)
    if clash:
        raise ValueError(f"run_key: names used twice: {sorted(clash)}")
    key: dict[str, Any] = {name: canonical_sha256(v) for name, v in settings.items()}
    for name, f in files.items():
        if f is None:
            key[name] = None
        elif isinstance(f, str | os.PathLike):
            key[name] = sha256_file(f)
        else:
            key[name] = [sha256_file(p) for p in f]
    return key


@dataclass(frozen=True)
class ResumeDecision:
    """Whether to resume a checkpoint, and why (one line, for the log)."""

    resume: bool
    reason: str


def resume_decision(
    checkpoint: Mapping[str, Any] | None, key: Mapping[str, Any], where: str | os.PathLike
) -> ResumeDecision:
    """Resume ``checkpoint`` (read from ``where``) only if it was made under ``key``.

    No checkpoint: start (nothing to say). A checkpoint without a key (an older version's) or
    with a different one: start over, the reason naming the inputs that differ.
    """
    if checkpoint is None:
        return ResumeDecision(False, f"no checkpoint at {where}: starting at iteration 0")
    old = checkpoint.get(KEY_FIELD)
    if not isinstance(old, Mapping):
        return ResumeDecision(
            False, f"{where} records no run key (an older version made it): starting over"
        )
    # a component only one key has (another key layout) counts as changed, even if None
    missing = object()
    changed = sorted(
        n for n in set(old) | set(key) if old.get(n, missing) != key.get(n, missing)
    )
    if changed:
        return ResumeDecision(
            False,
            f"{where} was made with other inputs ({', '.join(changed)} changed): starting over",
        )
    return ResumeDecision(
        True, f"{where}: same inputs, resuming at iteration {checkpoint.get('iteration')}"
    )


def checkpoint_file(folder: str | os.PathLike) -> Path:
    """The checkpoint file a trainer resumes from (``folder/last.pth``)."""
    return Path(folder) / "last.pth"
