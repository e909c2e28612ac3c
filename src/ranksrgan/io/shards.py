"""One shard mechanism for the sharded stages (sr, score, rankdata).

A stage splits a dataset into shards of ``shard_size`` images so that one job handles one
shard and a gather step joins the shard files. This module holds the three pieces every
sharded stage needs, so they exist once:

Which images a shard holds
    Image ``i`` (0-based, images sorted by name) belongs to shard ``i // shard_size``
    (:func:`n_shards`, :func:`shard_rows`). The workflow's ``shard_paths`` in
    ``workflow/rules/common.smk`` uses the same rule to name the shard files.

Resume
    * :class:`PartialRows`: a shard that writes table rows saves them to
      ``<out>.partial.parquet`` after each item (image), tagged with the item's name and a
      *fingerprint* of everything the rows depend on (the input files' sha256, the method or
      metric parameters). A rerun reuses an item's rows only when the fingerprint it computes
      now equals the recorded one, so an input replaced between a kill and the rerun is
      recomputed, never served stale. :meth:`PartialRows.finish` writes the final shard file
      atomically and removes the partial file.
    * :func:`read_sidecar` / :func:`write_sidecar`: a shard that writes one file per item
      (SR PNGs) keeps a JSON record beside it (``<out_dir>/.sidecar/<image>.json``) with the
      fingerprint and the output file's own sha256; the output is reused only when both match.
    * :func:`fingerprint` builds a fingerprint from plain values (hashes, options).

Gather
    :func:`read_shards` concatenates the shard Parquet files in order, with one-line errors
    naming a missing or unreadable (corrupt) shard file and a key that appears in two shards.

Typical use in a stage (score)::

    rows = shard_rows(manifest_df, shard, shard_size, source=manifest_path)
    store = PartialRows(out, COLUMNS)
    for item in rows.itertuples():
        fp = fingerprint(sha256_file(item.path), params)
        if store.reuse(item.image, fp) is None:
            store.add(item.image, fp, compute(item))
    df = store.finish(list(rows["image"]))
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.atomic import write_bytes_atomic, write_parquet_atomic
from ranksrgan.io.hashing import sha256_file
from ranksrgan.io.parquet import resolve_paths

log = logging.getLogger(__name__)

ITEM = "_shard_item"  # partial-file column: the item (image) a row belongs to
FINGERPRINT = "_shard_fingerprint"  # partial-file column: what the item's rows were made from


# ---------------------------------------------------------------- which images a shard holds


def n_shards(n_items: int, shard_size: int) -> int:
    """Number of shards of ``n_items`` images at ``shard_size`` images per shard."""
    if shard_size < 1:
        raise RankSRGANError(f"shard_size {shard_size}: must be >= 1")
    return -(-n_items // shard_size)


def shard_rows(
    df: pd.DataFrame,
    shard: int | None,
    shard_size: int,
    source: str | os.PathLike = "manifest",
    key: str = "image",
) -> pd.DataFrame:
    """Rows of shard ``shard`` of a table of images (all rows when ``shard`` is None).

    Rows are sorted by ``key`` (stable) first, so shard ``k`` holds images ``i`` with
    ``i // shard_size == k`` whatever the table's order. ``source`` names the table in the
    one-line error raised for a shard out of range.
    """
    df = df.sort_values(key, kind="stable").reset_index(drop=True)
    if shard is None:
        return df
    n = n_shards(len(df), shard_size)
    if shard < 0 or shard >= n:
        raise RankSRGANError(
            f"{source}: shard {shard} out of range ({len(df)} images = {n} shards of {shard_size})"
        )
    return df.iloc[shard * shard_size : (shard + 1) * shard_size].reset_index(drop=True)


def require_files(paths: Iterable[tuple[str, str | os.PathLike]], what: str = "input") -> None:
    """One-line error naming the first missing file; ``paths`` yields ``(image, path)``.

    A shard checks its inputs before it starts: a missing input means a wrong manifest or a
    wrong working directory, not a bad image, so it fails the job instead of giving error rows.
    """
    for image, p in paths:
        if not Path(p).is_file():
            raise RankSRGANError(f"{p}: {what} of image {image} not found")


# ---------------------------------------------------------------- resume


def fingerprint(*parts: Any) -> str:
    """sha256 (hex) over plain JSON-able values: input hashes, options, parameter hashes."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def partial_path(out: str | os.PathLike) -> Path:
    """The partial file kept beside a shard output while the shard runs."""
    out = Path(out)
    return out.with_name(out.name + ".partial.parquet")


class PartialRows:
    """Rows of one shard, saved after each item so that an interrupted shard resumes.

    Args:
        out: the shard's final Parquet file; progress lives in :func:`partial_path` ``(out)``.
        columns: the output columns (the order of the final file).
        save_every: save the partial file after this many new items (1 = after each).
        dtypes: optional ``{column: dtype}`` applied to the final table (``DataFrame.astype``),
            so that reused and new rows give the same schema.

    A damaged partial file is only a cache: it is ignored (logged) and the shard starts over.
    """

    def __init__(
        self,
        out: str | os.PathLike,
        columns: Sequence[str],
        save_every: int = 1,
        dtypes: Mapping[str, Any] | None = None,
    ):
        self.out = Path(out)
        self.dtypes = dict(dtypes or {})
        self.partial = partial_path(out)
        self.columns = list(columns)
        self.save_every = max(1, int(save_every))
        self._frames: dict[str, pd.DataFrame] = {}  # item -> its rows (internal columns too)
        self._unsaved = 0
        self._previous: dict[str, tuple[str, pd.DataFrame]] = {}
        if self.partial.is_file():
            try:
                prev = pd.read_parquet(self.partial)
                if ITEM not in prev.columns or FINGERPRINT not in prev.columns:
                    raise ValueError("written by an older version (no item fingerprints)")
                for item, rows in prev.groupby(ITEM, sort=False):
                    fps = rows[FINGERPRINT].unique()
                    if len(fps) == 1:
                        self._previous[str(item)] = (str(fps[0]), rows)
            except Exception as exc:  # pyarrow raises several types for a damaged file
                log.warning("%s: partial file not reusable, starting over (%s)", self.partial, exc)
                self._previous = {}
            if self._previous:
                log.info("%s: %d items in the partial file", self.out, len(self._previous))

    def reuse(self, item: str, fp: str) -> pd.DataFrame | None:
        """The rows recorded for ``item`` if they were made under fingerprint ``fp``, else None.

        Reused rows are kept for :meth:`finish`; a mismatch drops the old rows.
        """
        prev = self._previous.pop(item, None)
        if prev is None or prev[0] != fp:
            return None
        self._frames[item] = prev[1]
        return prev[1][self.columns].reset_index(drop=True)

    def add(self, item: str, fp: str, rows: pd.DataFrame | Sequence[dict]) -> None:
        """Record ``item``'s new rows under fingerprint ``fp`` and save progress."""
        df = pd.DataFrame(rows, columns=self.columns)
        df[ITEM] = item
        df[FINGERPRINT] = fp
        self._frames[item] = df
        self._previous.pop(item, None)
        self._unsaved += 1
        if self._unsaved >= self.save_every:
            self.save()

    def save(self) -> None:
        """Write the partial file now (atomically)."""
        if self._frames:
            write_parquet_atomic(pd.concat(self._frames.values(), ignore_index=True), self.partial)
        self._unsaved = 0

    def finish(self, items: Sequence[str]) -> pd.DataFrame:
        """The rows of ``items`` in that order; write the shard file atomically, drop the partial.

        Every item must have been reused or added; a missing one is a bug in the caller.
        """
        missing = [i for i in items if i not in self._frames]
        if missing:
            raise RankSRGANError(f"{self.out}: no rows for image {missing[0]} (shard incomplete)")
        frames = [self._frames[i][self.columns] for i in items]
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=self.columns)
        if self.dtypes:
            df = df.astype(self.dtypes)
        write_parquet_atomic(df, self.out)
        self.partial.unlink(missing_ok=True)
        return df


def sidecar_path(out_dir: str | os.PathLike, image: str) -> Path:
    """Where a per-image output's resume record lives: ``<out_dir>/.sidecar/<image>.json``."""
    return Path(out_dir) / ".sidecar" / f"{image}.json"


def read_sidecar(
    output: str | os.PathLike, side: str | os.PathLike, fp: str
) -> dict[str, Any] | None:
    """The record of ``output`` if it was made under fingerprint ``fp`` and is intact, else None.

    Intact: the output file exists and its sha256 equals the one recorded when it was written.
    """
    output, side = Path(output), Path(side)
    if not (output.is_file() and side.is_file()):
        return None
    try:
        rec = json.loads(side.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(rec, dict) or rec.get("fingerprint") != fp:
        return None
    if rec.get("output_sha256") != sha256_file(output):
        return None
    return rec


def write_sidecar(
    output: str | os.PathLike, side: str | os.PathLike, fp: str, **extra: Any
) -> dict[str, Any]:
    """Record that ``output`` (already written) was made under ``fp``; returns the record.

    ``extra`` holds what the stage wants back on reuse (sizes, runtime, readable inputs).
    """
    rec = {"fingerprint": fp, "output_sha256": sha256_file(output), **extra}
    write_bytes_atomic(side, json.dumps(rec, indent=1, default=str).encode())
    return rec


# ---------------------------------------------------------------- gather


def read_shards(
    shards: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    what: str,
    unique: Sequence[str] = (),
) -> pd.DataFrame:
    """Concatenate shard Parquet files in the given order.

    Path columns (see :mod:`ranksrgan.io.parquet`) are resolved against each shard file's
    folder, as for any manifest. One-line errors: a shard file missing or unreadable
    (corrupt, truncated) is named; no shard at all names ``out``; rows whose ``unique``
    columns repeat (an image in two shards) name the first repeated key. ``what`` says which
    kind of shard the message is about.
    """
    frames = []
    for s in shards:
        p = Path(s)
        if not p.is_file():
            raise RankSRGANError(f"{p}: {what} not found")
        try:
            frame = pd.read_parquet(p)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            msg = " ".join(str(exc).split())[:200]
            raise RankSRGANError(
                f"{p}: unreadable {what}, corrupt? (rerun its job) ({msg})"
            ) from None
        frames.append(resolve_paths(frame, p.parent))
    if not frames:
        raise RankSRGANError(f"{out}: no {what}s to gather")
    df = pd.concat(frames, ignore_index=True)
    if unique:
        dup = df.duplicated(list(unique))
        if dup.any():
            r = df[dup].iloc[0]
            key = " ".join(f"{c} {r[c]}" for c in unique)
            raise RankSRGANError(f"{out}: {key} appears in two shards")
    return df
