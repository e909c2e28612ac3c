"""File names and paths built from table values: refused when they would leave their folder.

Stages build output names from values they read from Parquet tables and manifests (an image
id becomes ``{image}.png``, a method becomes a folder tag) and resolve the tables' relative
``path`` columns. A value such as ``../../ESC`` would then write or read outside the folder
the stage owns, so every such value goes through one of two checks:

- :func:`plain_name`: a value used as (part of) one file name must be a plain name: no path
  separator, not ``.``/``..``, not hidden, no control character, not too long;
- :func:`contained_path`: a relative path that legitimately holds subfolders (a manifest's
  ``HR/0001.png``, a rank index's ``../../sr/esrgan/Set5/baby.png``) is joined to its base
  folder and must stay inside the allowed root.

Both raise :class:`~ranksrgan.errors.RankSRGANError` with one line naming the table, the row
and the column.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

from ranksrgan.errors import RankSRGANError

# Longest name accepted: file systems allow 255 bytes, and stages add suffixes to the value
# (``_y00000_x00000_srres.png``, ``.json``), so longer values would fail later with an OSError.
MAX_NAME_BYTES = 200


def _where(table: str | os.PathLike, row: object, column: str) -> str:
    return f"{table}, row {row}: {column}"


def name_problem(text: str) -> str | None:
    """Why ``text`` is not a plain file name, or None when it is one."""
    if not text:
        return "empty"
    if "/" in text or "\\" in text or (os.altsep and os.altsep in text):
        return "contains a path separator"
    if text in (".", ".."):
        return "names a folder, not a file"
    if text.startswith("."):
        # hidden files are skipped by folder listings, and the atomic writers' temporaries
        # are dot-files beside the output: such a name could collide with them
        return "starts with '.'"
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        return "contains a control character"
    if len(text.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"longer than {MAX_NAME_BYTES} bytes"
    return None


def plain_name(value: object, table: str | os.PathLike, row: object, column: str = "image") -> str:
    """``value`` as text if it is usable as a plain file name; else a one-line error.

    Args:
        value: a table cell (str; integers are accepted and turned into text).
        table: the table it was read from (its file), for the message.
        row: which row (a number or a key), for the message.
        column: the column's name, for the message.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise RankSRGANError(f"{_where(table, row, column)} is missing (a file name is needed)")
    if isinstance(value, str):
        text = value
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        text = str(int(value))  # Python and numpy integers: image ids read as numbers
    else:
        raise RankSRGANError(
            f"{_where(table, row, column)} {value!r} is not a plain file name (not text)"
        )
    why = name_problem(text)
    if why is not None:
        raise RankSRGANError(
            f"{_where(table, row, column)} {text!r} is not a plain file name ({why})"
        )
    return text


def contained_path(
    root: str | os.PathLike,
    rel: object,
    table: str | os.PathLike,
    row: object,
    column: str = "path",
    base: str | os.PathLike | None = None,
) -> str:
    """``base / rel`` (``base`` defaults to ``root``), refused when it leaves ``root``.

    The join is normalised lexically (``..`` removed) rather than through the file system:
    results folders are often symlinks to scratch disks, and following them would refuse a
    legitimate layout; the hazard is a value that climbs out with ``..``. Absolute values are
    returned as they are: stages always write relative paths, so an absolute one was put there
    on purpose by whoever wrote the table.

    Returns:
        The joined path (``str``; ``rel`` itself when absolute).
    """
    if not isinstance(rel, str) or not rel:
        raise RankSRGANError(f"{_where(table, row, column)} is missing or not text ({rel!r})")
    if "\0" in rel:
        raise RankSRGANError(f"{_where(table, row, column)} {rel!r} contains a NUL byte")
    if not stays_inside(root, rel, base):
        raise RankSRGANError(
            f"{_where(table, row, column)} {rel!r} leads outside {root} (a relative path must "
            "stay inside the results folder it belongs to)"
        )
    return rel if os.path.isabs(rel) else os.path.join(base if base is not None else root, rel)


def stays_inside(root: str | os.PathLike, rel: str, base: str | os.PathLike | None = None) -> bool:
    """Whether ``base / rel`` (lexically normalised) lies in ``root``; absolute ``rel``: True.

    The predicate behind :func:`contained_path`, for callers that build the message's row
    label only when a value is refused.
    """
    if os.path.isabs(rel):
        return True
    root_abs = os.path.normpath(os.path.abspath(root))
    joined = os.path.normpath(
        os.path.abspath(os.path.join(base if base is not None else root, rel))
    )
    return os.path.commonpath([root_abs, joined]) == root_abs


def rank_index_root(index: str | os.PathLike) -> Path:
    """The results folder ``R`` of a rank index ``R/rankdata/{name}/index.parquet``.

    The index's paths point at SR and HR images elsewhere in ``R`` (``../../sr/...``,
    ``../../data/...``), so ``R``, not the index's own folder, is the root they must stay in.
    """
    return Path(os.path.abspath(index)).parent.parent.parent
