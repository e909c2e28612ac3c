"""The one reader and writer of stage manifests (data, sr, train inputs).

Manifests store file paths relative to the manifest's own folder, so a results folder can
be moved and a stage can run from any working directory. Path columns are ``path`` and every
column whose name ends in ``_path``. Reading resolves them against the manifest's folder; a
path that does not exist there but exists relative to the working directory (manifests
written before this rule) is kept as it is, so old manifests still load.

:func:`read_manifest` refuses a relative path that leads outside ``root`` (by default the
manifest's own folder) once joined to the manifest's folder, and an ``image`` that is not a
plain file name (one line naming the manifest, the row and the column;
:func:`ranksrgan.io.names.contained_path`, :func:`ranksrgan.io.names.plain_name`).
:func:`resolve_paths` checks containment only when given a ``root``: the gather of shard
manifests, whose paths lead out of ``shards/`` by design, resolves without one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ranksrgan.io.atomic import write_parquet_atomic
from ranksrgan.io.contracts import read_table
from ranksrgan.io.names import contained_path, name_problem, plain_name, stays_inside


def path_columns(df: pd.DataFrame) -> list[str]:
    """The columns of a manifest that hold file paths."""
    return [c for c in df.columns if c == "path" or str(c).endswith("_path")]


def resolve_paths(
    df: pd.DataFrame,
    folder: str | os.PathLike,
    root: str | os.PathLike | None = None,
    table: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """A copy of ``df`` with its path columns usable from the working directory.

    Absolute and empty paths stay as they are; a relative one is joined to ``folder`` (the
    manifest's folder) unless only the cwd-relative reading names an existing file. With
    ``root``, a relative path whose join leaves ``root`` is refused (``table`` names the file
    in the message; rows are numbered as stored, from 0).
    """
    folder = Path(folder)
    out = df.copy()
    where = table if table is not None else folder

    def resolve(v, column: str):
        if not isinstance(v, str) or not v or os.path.isabs(v):
            return v
        if root is not None and not stays_inside(root, v, folder):
            # the row label scans the column: built only for the value refused
            contained_path(root, v, where, _row_label(df, df[column], v), column, base=folder)
        joined = folder / v
        if not joined.exists() and Path(v).exists():
            return v  # an old manifest written with cwd-relative paths
        return str(joined)

    for c in path_columns(df):
        # once per distinct value: a rank index names each image once per position and level
        resolved = {v: resolve(v, c) for v in pd.unique(df[c]) if isinstance(v, str)}
        out[c] = [resolved.get(v, v) if isinstance(v, str) else v for v in df[c]]
    return out


def _row_label(df: pd.DataFrame, values: pd.Series, value: object) -> str:
    """``3 (image 'baby')``: the first stored row holding ``value`` and, if any, its image."""
    hit = values.isna() if pd.isna(value) else values == value
    row = int(hit.to_numpy().argmax())
    if "image" in df.columns and values.name != "image":
        return f"{row} (image {df['image'].iloc[row]!r})"
    return str(row)


def check_names(df: pd.DataFrame, columns: Sequence[str], table: str | os.PathLike) -> None:
    """Every value of ``columns`` is a plain file name (:func:`ranksrgan.io.names.plain_name`).

    For tables whose values the reader turns into file names (``{image}.png``, a method's
    folder). Checked once per distinct value; the message names the first stored row.
    """
    for c in columns:
        if c not in df.columns:
            continue
        for v in pd.unique(df[c]):
            if v is None or isinstance(v, float) or name_problem(str(v)) is not None:
                plain_name(v, table, _row_label(df, df[c], v), c)


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
    path: str | os.PathLike,
    columns: Sequence[str],
    what: str = "manifest",
    root: str | os.PathLike | None = None,
    names: Sequence[str] = ("image",),
) -> pd.DataFrame:
    """A stage manifest sorted by ``image``, its paths resolved (see the module docstring).

    One-line errors for a missing or unreadable file or a missing column (``what`` names the
    kind of manifest in the message), for a relative path that leads outside ``root`` (None:
    the manifest's own folder, where every gathered manifest's files are; a rank index passes
    the results folder) and for a value of a ``names`` column (values the reader builds file
    names from; default ``image``) that is not a plain file name.
    """
    p = Path(path)
    df = read_table(p, columns, what)
    check_names(df, names, f"{p} ({what})")
    df = resolve_paths(df, p.parent, p.parent if root is None else root, f"{p} ({what})")
    return df.sort_values("image", kind="stable").reset_index(drop=True)
