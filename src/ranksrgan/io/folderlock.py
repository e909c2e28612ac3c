"""One writer per output folder: an ``flock`` held while a run writes into the folder.

Two trainings started by hand into the same ``--out`` would otherwise run side by side and
the last one to finish would win every file (weights, logs, checkpoint), each half the other
run's. The lock is the same kind as the results folder's (:mod:`ranksrgan.io.runlock`): an
``flock`` on a small file holding the holder's pid, working directory and start time, which
the kernel drops when the holder exits, so a killed run never leaves a stale lock. A second
run stops at once with one line naming the folder and the holder.

The lock file lives where a caller says (the trainers put it in ``OUT/checkpoint/``, which
neither Snakemake nor DVC treat as an output: a holder's pid must not change a stage folder's
hash). It is never deleted: removing a locked file would let a third run lock a new inode
while the first still writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from ranksrgan.errors import RankSRGANError

LOCK_NAME = ".ranksrgan.lock"


def take_lock(
    folder: str | os.PathLike, what: str, lock_file: str | os.PathLike | None = None
) -> tuple[int, Path]:
    """Lock ``folder`` (the file ``lock_file``, default ``folder/.ranksrgan.lock``) and return
    the open descriptor and the lock file's path: the lock lasts until the descriptor is
    closed or the process exits. One line naming ``folder`` and the holder if it is taken;
    ``what`` names the kind of run (``"Ranker training"``, ``"run"``)."""
    folder = Path(folder)
    path = Path(lock_file) if lock_file is not None else folder / LOCK_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RankSRGANError(f"{path}: cannot create the folder lock ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = lock_holder(fd)
        os.close(fd)
        raise RankSRGANError(
            f"{folder}: another {what} is writing into this folder ({holder}); "
            "wait for it to finish (the lock goes when that process exits)"
        ) from None
    info = {"pid": os.getpid(), "cwd": os.getcwd(), "started": time.strftime("%FT%T%z")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    return fd, path


@contextlib.contextmanager
def folder_lock(
    folder: str | os.PathLike, what: str, lock_file: str | os.PathLike | None = None
) -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` for the block (:func:`take_lock`). Not
    re-entrant: a second acquisition, even from this process, fails (two trainers in one
    process would collide just the same). Yields the lock file's path."""
    fd, path = take_lock(folder, what, lock_file)
    try:
        yield path
    finally:
        os.close(fd)  # closing the descriptor drops the lock


def lock_holder(fd: int) -> str:
    """``pid N, started T in CWD`` of the holder recorded in an open lock file."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return f"pid {info['pid']}, started {info['started']} in {info['cwd']}"
    except (OSError, ValueError, KeyError):
        return "holder unknown"
