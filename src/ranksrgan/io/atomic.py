"""Atomic file writes: write to a temporary sibling, fsync, then ``os.replace``.

An interrupted run therefore leaves either the old file or the new one, never a torn file,
and Snakemake/DVC never see a half-written output.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary name keeps the final suffix (``suffix`` overrides it) so that writers that
    pick a format from the extension (PNG, Parquet) still work.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{final.name}.",
        suffix=(suffix if suffix is not None else final.suffix) + ".tmp",
        dir=final.parent,
    )
    os.close(fd)
    # mkstemp creates 0600 files; outputs should get the usual permissions under the umask.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_parquet_atomic(df: Any, path: str | os.PathLike) -> None:
    """Write a pandas DataFrame to Parquet atomically (pyarrow engine, no index)."""
    with atomic_path(path, suffix=".parquet") as tmp:
        df.to_parquet(tmp, engine="pyarrow", index=False)


def save_torch_atomic(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` atomically (checkpoints, exported weights), reproducibly.

    ``torch.save`` to a file names the zip's records after that file, and the atomic temporary
    name is random, so identical states gave different bytes. Serialising into memory first
    gives the fixed archive name ``archive``: identical objects -> identical files.
    """
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes_atomic(path, buf.getvalue())
