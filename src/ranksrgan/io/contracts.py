"""The file contracts between stages, stated once: table columns, the HR pseudo-method, the
one encoding of a stand-in, and the one Parquet reader every stage uses.

Each ``*_COLUMNS`` tuple is the set of columns a reader of that table may rely on, in the
order the writer writes them (docs/architecture.md "Files between stages" points here instead
of repeating them). Writers import them; readers pass them to :func:`read_table`, whose
errors are one line naming the file and what kind of table it should have been.
Pandas is imported only by the reader: the workflow and the config check import the
constants at DAG load.

A stand-in (a number made with a stand-in: the synthetic NRQM model, a demo-trained network,
a random Ranker, the demo's photos, ...) is recorded in ONE way by every stage: a note string
under the name ``stand_in`` (a Parquet string column of every table that has one, a JSON
string of ``G.json`` / ``model.json`` / ``eval_summary.json`` / a metric's ``params``). ``""``
means "not a stand-in"; a non-empty note is the reason(s), joined with ``"; "``
(:data:`STAND_IN_SEP`). Writers build the note with :func:`stand_in_note`; readers of a file
take a value with :func:`stand_in_of` and a table's column with :func:`stand_in_notes` /
:func:`stand_in_mask` (a table without the column has no stand-in), then ask
:func:`is_stand_in` and :func:`stand_in_labels` (the reasons of a note). None, NaN and
False are no stand-in; a True flag (the encoding before this one) is refused, never read
as "not a stand-in".
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ranksrgan.errors import RankSRGANError

if TYPE_CHECKING:
    import pandas as pd

# The data stage's HR image of a dataset, used where a method name goes: a score "method"
# (HR scored against itself for NIQE/Ma/PI) and a rank-dataset level (RankSRGAN-HR).
HR = "HR"

# What separates the reasons of one stand-in note.
STAND_IN_SEP = "; "
# The column / JSON key holding the note (the only one: there is no separate flag).
STAND_IN = "stand_in"

# R/data/{dataset}/manifest.parquet (paths relative to the manifest's folder)
DATA_MANIFEST_COLUMNS = ("image", "hr_path", "lr_path", "height", "width", "hr_sha256",
                         "lr_sha256")

# R/sr/{method}/{dataset}/manifest.parquet and its shards
SR_MANIFEST_COLUMNS = ("image", "method", "path", "height", "width", "sr_sha256", "lr_sha256",
                       "weights", "weights_sha256", "runtime_s", "device", "precision",
                       "stand_in")

# R/scores/{dataset}/{method}.parquet (long format: one row per image x metric) and shards
SCORE_COLUMNS = ("dataset", "method", "image", "metric", "value", "height", "width", "colour",
                 "shave", "protocol", "params_hash", "stand_in", "error")

# R/rankdata/{name}/index.parquet: the columns every reader (the Ranker) relies on ...
RANK_INDEX_COLUMNS = ("image", "dataset", "x", "y", "size", "method", "level", "path", "score",
                      "label", "metric", "split")
# ... and the selection values and hashes the writer adds after them
RANK_INDEX_EXTRA_COLUMNS = ("sharpness", "niqe_gap", "sha256", "hr_sha256", "stand_in")
# A rank-data shard's patch rows: the index's columns before the split is drawn at gather
RANK_PATCH_COLUMNS = tuple(
    c for c in (*RANK_INDEX_COLUMNS, *RANK_INDEX_EXTRA_COLUMNS) if c != "split"
)


def stand_in_labels(value: object) -> list[str]:
    """The reasons of one ``stand_in`` value: its note split at ``"; "``, blanks dropped
    (``[]`` for ``""`` and for anything that is not a string: None, NaN, a bool)."""
    if not isinstance(value, str):
        return []
    return [r.strip() for r in value.split(STAND_IN_SEP) if r.strip()]


def stand_in_note(labels: Iterable[object] | str) -> str:
    """The one note of some reasons or notes: each split into its reasons, non-strings and
    blanks dropped, repeats dropped (first kept, order kept), joined with ``"; "``; ``""``
    when none is left (not a stand-in). A single string is one note, not its characters."""
    values = [labels] if isinstance(labels, str) else labels
    return STAND_IN_SEP.join(dict.fromkeys(r for v in values for r in stand_in_labels(v)))


def is_stand_in(value: object) -> bool:
    """True iff ``value`` is a non-empty note string (None, NaN, ``""``, a bool: False)."""
    return bool(stand_in_labels(value))


def stand_in_of(value: object, where: str | os.PathLike = "stand_in") -> str:
    """The note of one recorded ``stand_in`` value (a table cell, a JSON value), as
    :func:`stand_in_note`; a True flag is refused with one line naming ``where``.

    True is the encoding before this one (a flag beside a separate note): read as "not a
    stand-in" it would pass a stand-in's number as a real one, so the file is refused
    rather than misread. False, None and NaN mean what they say: no stand-in.
    """
    if type(value).__name__ in ("bool", "bool_") and bool(value):  # bool or numpy.bool_
        raise RankSRGANError(
            f"{where}: stand_in is True, not a note (written before the one stand-in "
            "encoding: rerun the stage that wrote it)"
        )
    return stand_in_note([value])


def stand_in_notes(table: pd.DataFrame, where: str | os.PathLike = "stand_in") -> pd.Series:
    """The ``stand_in`` column of ``table`` as notes, one per row (:func:`stand_in_of` of
    each value: a str, ``""`` = not a stand-in); all ``""`` when the table has no such
    column. ``where`` (the file) names a refused value."""
    import pandas as pd

    if STAND_IN not in table.columns:
        return pd.Series("", index=table.index, dtype=object)
    return table[STAND_IN].map(lambda v: stand_in_of(v, where)).astype(object)


def stand_in_reasons(table: pd.DataFrame, where: str | os.PathLike = "stand_in") -> list[str]:
    """Every stand-in reason of ``table``'s rows, once each, sorted ([] when none)."""
    return sorted({r for note in stand_in_notes(table, where) for r in stand_in_labels(note)})


def stand_in_mask(table: pd.DataFrame, where: str | os.PathLike = "stand_in") -> pd.Series:
    """Per row of ``table``: is it a stand-in (a non-empty note in ``stand_in``; False
    everywhere when the table has no such column)."""
    return stand_in_notes(table, where).ne("").astype(bool)


def read_table(
    path: str | os.PathLike, columns: Sequence[str], what: str
) -> pd.DataFrame:
    """Read a stage's Parquet table and check it has ``columns``; one line naming the file and
    ``what`` (e.g. "rank index") when it is missing, unreadable or lacks a column."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise RankSRGANError(f"{p}: {what} not found")
    try:
        df = pd.read_parquet(p)
    except Exception as exc:  # noqa: BLE001  (pyarrow raises several types for a damaged file)
        msg = " ".join(str(exc).split())[:200]
        raise RankSRGANError(f"{p}: unreadable {what} ({type(exc).__name__}: {msg})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise RankSRGANError(f"{p}: {what} lacks column '{missing[0]}'")
    return df
