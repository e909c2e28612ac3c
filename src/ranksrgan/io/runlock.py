"""One run per results folder, whatever the working directory.

Snakemake locks per working directory (``.snakemake/locks``), so two runs started from two
folders on one ``results_dir`` would both write it. The workflow takes this lock when it
starts executing (``onstart``); the second run stops with one line naming the holder. The
lock is an ``flock`` on a file in the results folder: the kernel drops it when the holder
exits, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import os
from pathlib import Path

from ranksrgan.io.folderlock import LOCK_NAME, take_lock

# Descriptors held for the life of the process (a closed descriptor would drop the lock).
_HELD: dict[str, int] = {}


def acquire_results_lock(results_dir: str | os.PathLike) -> Path:
    """Lock ``results_dir`` for this process; raise one line if another process holds it
    (the one folder lock, :func:`ranksrgan.io.folderlock.take_lock`).

    Idempotent within a process. Returns the lock file's path.
    """
    folder = Path(results_dir)
    path = folder / LOCK_NAME
    key = str(path.resolve()) if path.exists() else str(folder.resolve() / LOCK_NAME)
    if key in _HELD:
        return path
    fd, path = take_lock(folder, "run", path)
    _HELD[key] = fd
    return path
