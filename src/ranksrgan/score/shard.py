"""Score one shard of a dataset x method into long-format Parquet (one row per image x metric).

A bad image (corrupt, too small for a metric, transparent under the image policy) becomes a
row with ``value = NaN`` and the reason in ``error``; a metric that returns NaN without an
exception is recorded the same way, so no NaN is ever silent. A missing input file is not a bad
image (a wrong manifest or folder): the shard fails with one line. Out of GPU memory is not a
bad image either (transient): it fails the job, so a rerun scores the image.

Progress is saved to a partial file after each image (``ranksrgan.io.shards.PartialRows``); a
rerun reuses an image's rows only when the sha256 of its SR and HR files and every metric's
``params_hash`` are those the rows were made from, so an image replaced between a kill and
the rerun is scored again. The final file is written atomically.

Each input is checked against the sha256 its manifest recorded (``sr_sha256`` of the sr
manifest, ``hr_sha256`` of the data manifest) before it is used: a file changed after its
manifest was written fails the shard with one line naming the file. Relative manifest paths
must stay in their manifest's folder and ``image`` values must be plain file names.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch

from ranksrgan.errors import RankSRGANError
from ranksrgan.io import ImagePolicy, read_image
from ranksrgan.io.contracts import HR, SCORE_COLUMNS, stand_in_note, stand_in_notes
from ranksrgan.io.parquet import read_manifest
from ranksrgan.io.shards import PartialRows, fingerprint, require_files, shard_rows
from ranksrgan.io.verify import verify_sha256
from ranksrgan.metrics import Metric

log = logging.getLogger(__name__)

COLUMNS = list(SCORE_COLUMNS)
# The row format, part of every image's fingerprint: rows of an older format in a partial
# file are scored again (2: ``stand_in`` is the note string, no ``stand_in_note``).
ROW_FORMAT = 2


@dataclass(frozen=True)
class Item:
    """One image to score and its HR reference."""

    image: str
    path: str
    hr_path: str
    stand_in: str = ""  # the sr manifest's stand-in note (why the SR output is one), "" = none
    sha256: str = ""  # recorded hash of ``path`` ("" = none recorded)
    hr_sha256: str = ""  # recorded hash of ``hr_path``
    source: str = ""  # the manifest that lists ``path`` (for messages)
    hr_source: str = ""  # the data manifest (for messages)


def shard_items(
    data_manifest: str | Path,
    sr_manifest: str | Path | None,
    method: str,
    shard: int | None,
    shard_size: int,
) -> list[Item]:
    """Images of shard ``shard`` (all when None): image ``i`` (sorted) is in shard ``i // size``."""
    data = read_manifest(data_manifest, ("image", "hr_path"), "data manifest")
    hr_hash = _hashes(data, "hr_sha256")
    notes: dict[str, str] = {}
    if method == HR:
        paths, hashes, source = dict(zip(data["image"], data["hr_path"], strict=True)), hr_hash, ""
    else:
        if sr_manifest is None:
            raise RankSRGANError(f"method {method}: an sr manifest is required (only HR has none)")
        sr = read_manifest(sr_manifest, ("image", "path"), "sr manifest")
        paths, hashes = dict(zip(sr["image"], sr["path"], strict=True)), _hashes(sr, "sr_sha256")
        source = f"{sr_manifest} (sr manifest)"
        notes = dict(zip(sr["image"], stand_in_notes(sr, sr_manifest), strict=True))
        missing = sorted(set(data["image"]) - set(paths))
        if missing:
            raise RankSRGANError(f"{sr_manifest}: no {method} output for image {missing[0]}")
    rows = shard_rows(data, shard, shard_size, source=data_manifest)
    hr_source = f"{data_manifest} (data manifest)"
    return [
        Item(
            r.image,
            str(paths[r.image]),
            str(r.hr_path),
            notes.get(r.image, ""),
            hashes.get(r.image, ""),
            hr_hash.get(r.image, ""),
            source or hr_source,
            hr_source,
        )
        for r in rows.itertuples()
    ]


def _hashes(df: pd.DataFrame, column: str) -> dict[str, str]:
    """image -> recorded sha256 (empty where the manifest records none)."""
    if column not in df.columns:
        return {}
    return {
        i: v if isinstance(v, str) else "" for i, v in zip(df["image"], df[column], strict=True)
    }


def _to_tensor(img) -> torch.Tensor:
    return torch.from_numpy(img.copy()).permute(2, 0, 1)[None].to(torch.float64) / 255.0


def _row(dataset, method, item, metric: Metric, value, h, w, error) -> dict:
    return {
        "dataset": dataset,
        "method": method,
        "image": item.image,
        "metric": metric.name,
        "value": float(value),
        "height": h,
        "width": w,
        "colour": str(metric.params.get("colour", "")),
        "shave": int(metric.params.get("shave", -1)),
        "protocol": json.dumps(metric.params, sort_keys=True, default=str),
        "params_hash": metric.params_hash,
        # the one encoding (ranksrgan.io.contracts): the SR output's and the metric's reasons
        "stand_in": stand_in_note([item.stand_in, metric.stand_in]),
        "error": error,
    }


def score_item(
    dataset: str, method: str, item: Item, metrics: Sequence[Metric], policy: ImagePolicy
) -> list[dict]:
    """Rows of one image for every metric; failures become rows with the error text."""
    try:
        img = read_image(item.path, policy)
    except RankSRGANError as exc:
        return [_row(dataset, method, item, m, math.nan, 0, 0, str(exc)) for m in metrics]
    h, w = img.shape[:2]
    x = _to_tensor(img)
    ref = None
    rows = []
    for m in metrics:
        error = ""
        value = math.nan
        try:
            if min(h, w) < m.min_size:
                raise RankSRGANError(
                    f"image is {h}x{w}; {m.name} needs at least {m.min_size} px per side"
                )
            if m.full_reference:
                if ref is None:
                    hr = read_image(item.hr_path, policy)
                    if hr.shape != img.shape:
                        raise RankSRGANError(
                            f"{item.hr_path}: HR is {hr.shape[0]}x{hr.shape[1]}, image is {h}x{w}"
                        )
                    ref = _to_tensor(hr)
                value = float(m(x, ref)[0])
            else:
                value = float(m(x)[0])
            if math.isnan(value):
                raise RankSRGANError(
                    f"{m.name} is undefined on this image (NaN: flat or degenerate content)"
                )
        except (RankSRGANError, ValueError, RuntimeError) as exc:
            if is_out_of_memory(exc):
                raise  # transient: fail the job rather than record a permanent error row
            error = f"{item.path}: {exc}" if not str(exc).startswith(item.path) else str(exc)
            value = math.nan
        rows.append(_row(dataset, method, item, m, value, h, w, error))
    return rows


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a device running out of memory (CUDA, cuBLAS/cuDNN workspaces, MPS)."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    msg = str(exc)
    return "out of memory" in msg.lower() or "_STATUS_ALLOC_FAILED" in msg


def score_shard(
    dataset: str,
    method: str,
    items: Sequence[Item],
    metrics: Sequence[Metric],
    out: str | Path,
    policy: ImagePolicy | None = None,
) -> pd.DataFrame:
    """Score ``items`` with ``metrics`` and write ``out`` atomically; resume from a partial file.

    Raises a one-line error before scoring when an input file (SR image, or the HR image
    when a metric is full-reference) is missing.
    """
    policy = policy or ImagePolicy()
    need_hr = any(m.full_reference for m in metrics)
    require_files(((it.image, it.path) for it in items), f"{method} image")
    if need_hr:
        require_files(((it.image, it.hr_path) for it in items), "HR image")
    store = PartialRows(out, COLUMNS, dtypes=DTYPES)
    # what an image's rows depend on besides its input files
    settings = (dataset, method, asdict(policy), sorted((m.name, m.params_hash) for m in metrics),
                ROW_FORMAT)
    reused = 0
    rerun = "the data stage" if method == HR else "the sr stage"
    for item in items:
        what = f"{item.source}, image {item.image}"
        inputs = [verify_sha256(item.path, item.sha256, what, rerun)]
        if need_hr and item.hr_path != item.path:
            what = f"{item.hr_source}, image {item.image}"
            inputs.append(verify_sha256(item.hr_path, item.hr_sha256, what, "the data stage"))
        fp = fingerprint(inputs, item.stand_in, settings)
        if store.reuse(item.image, fp) is not None:
            reused += 1
            continue
        t0 = time.perf_counter()
        rows = sorted(score_item(dataset, method, item, metrics, policy), key=lambda r: r["metric"])
        store.add(item.image, fp, rows)
        log.info("%s/%s/%s scored in %.2f s", dataset, method, item.image, time.perf_counter() - t0)
    if reused:
        log.info("%s: reused %d of %d images from the partial file", out, reused, len(items))
    return store.finish([it.image for it in items])


DTYPES = {
    "dataset": str,
    "method": str,
    "image": str,
    "metric": str,
    "value": "float64",
    "height": "int64",
    "width": "int64",
    "colour": str,
    "shave": "int64",
    "protocol": str,
    "params_hash": str,
    "stand_in": str,
    "error": str,
}
