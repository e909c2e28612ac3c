"""The one reader and writer of stage manifests (data, sr, train inputs).

Manifests store file paths relative to the manifest's own folder, so a results folder can
be moved and a stage can run from any working directory. Path columns are ``path`` and every
column whose name ends in ``_path``. Reading resolves them against the manifest's folder; a
path that does not exist there but exists relative to the working directory (manifests
written before this rule) is kept as it is, so old manifests still load.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.atomic import write_parquet_atomic


def path_columns(df: pd.DataFrame) -> list[str]:
    """The columns of a manifest that hold file paths."""
    return [c for c in df.columns if c == "path" or str(c).endswith("_path")]


def resolve_paths(df: pd.DataFrame, folder: str | os.PathLike) -> pd.DataFrame:
    """A copy of ``df`` with its path columns usable from the working directory.

    Absolute and empty paths stay as they are; a relative one is joined to ``folder`` (the
    manifest's folder) unless only the cwd-relative reading names an existing file.
    """
    folder = Path(folder)
    out = df.copy()

    def resolve(v):
        if not isinstance(v, str) or not v or os.path.isabs(v):
            return v
        joined = folder / v
        if not joined.exists() and Path(v).exists():
            return v  # an old manifest written with cwd-relative paths
        return str(joined)

    for c in path_columns(df):
        out[c] = [resolve(v) for v in df[c]]
    return out


def relative_paths(df: pd.DataFrame, manifest: str | os.PathLike) -> pd.DataFrame:
    """A copy of ``df`` with its path columns relative to the folder of ``manifest``."""
    folder = os.path.abspath(Path(manifest).parent)
    out = df.copy()
    for c in path_columns(df):
        out[c] = [
            os.path.relpath(os.path.abspath(v), folder) if isinstance(v, str) and v else v
            for v in df[c]
        ]
    return out


def write_manifest(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a manifest atomically, its paths relative to the manifest's folder."""
    write_parquet_atomic(relative_paths(df, path), path)


def read_manifest(
    path: str | os.PathLike, columns: Sequence[str], what: str = "manifest"
) -> pd.DataFrame:
    """A stage manifest sorted by ``image``, its paths resolved (see the module docstring).

    One-line errors for a missing or unreadable file or a missing column (``what`` names the
    kind of manifest in the message).
    """
    p = Path(path)
    if not p.is_file():
        raise RankSRGANError(f"{p}: {what} not found")
    try:
        df = pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        msg = " ".join(str(exc).split())[:200]
        raise RankSRGANError(f"{p}: unreadable {what} ({msg})") from None
    for c in columns:
        if c not in df.columns:
            raise RankSRGANError(f"{p}: {what} lacks column '{c}'")
    df = resolve_paths(df, p.parent)
    return df.sort_values("image", kind="stable").reset_index(drop=True)
