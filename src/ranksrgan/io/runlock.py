"""One run per results folder, whatever the working directory.

Snakemake locks per working directory (``.snakemake/locks``), so two runs started from two
folders on one ``results_dir`` would both write it. The workflow takes this lock when it
starts executing (``onstart``); the second run stops with one line naming the holder. The
lock is an ``flock`` on a file in the results folder: the kernel drops it when the holder
exits, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

from ranksrgan.errors import RankSRGANError

LOCK_NAME = ".ranksrgan.lock"

# Descriptors held for the life of the process (a closed descriptor would drop the lock).
_HELD: dict[str, int] = {}


def acquire_results_lock(results_dir: str | os.PathLike) -> Path:
    """Lock ``results_dir`` for this process; raise one line if another process holds it.

    Idempotent within a process. Returns the lock file's path.
    """
    folder = Path(results_dir)
    path = folder / LOCK_NAME
    key = str(path.resolve()) if path.exists() else str(folder.resolve() / LOCK_NAME)
    if key in _HELD:
        return path
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RankSRGANError(f"{path}: cannot create the run lock ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(fd)
        os.close(fd)
        raise RankSRGANError(
            f"{folder}: another run is using this results folder ({holder}); "
            "wait for it to finish (the lock goes when that process exits)"
        ) from None
    info = {"pid": os.getpid(), "cwd": os.getcwd(), "started": time.strftime("%FT%T%z")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    _HELD[key] = fd
    return path


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return f"pid {info['pid']}, started {info['started']} in {info['cwd']}"
    except (OSError, ValueError, KeyError):
        return "holder unknown"
