"""One shard of one source dataset: select positions and label patches, image by image.

Inputs are the data stage's manifest (HR images) and, per method in level order, the sr
stage's manifest (the pseudo-method ``HR`` is the HR image itself). Outputs, both written
atomically by :class:`ranksrgan.io.shards.PartialRows` (resumable after a kill):

- the shard's patch rows (``PATCH_COLUMNS``; ``path`` relative to the shard file's folder);
- beside it, ``images_path(out)``: one row per image with its size, status and the number of
  positions before and after each selection rule (``IMAGE_COLUMNS``).

Each image's rows are keyed on a fingerprint of its input files' sha256 (from the manifests),
the selection rules and the metrics' parameter hashes, so a rerun reuses exactly the images
whose inputs and settings did not change. An image that is computed is first checked against
the sha256 its manifest recorded (one line naming the file when it changed since).

A metric undefined on one patch (NIQE or Ma on a flat patch) does not fail the shard: that
patch's value is NaN. A position whose NIQE distance is undefined fails the distance rule and
is counted in ``n_gap_undefined``; a position with a NaN label at some level is written with
that NaN, and the gather leaves the position out of the index (all its levels) and counts it
in ``stats.json``. Image ids (``image``) must be plain file names (exported patches are named
after them) and relative manifest paths must stay in their manifest's folder.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ranksrgan.errors import MetricUndefinedError, RankSRGANError
from ranksrgan.io import ImagePolicy, read_image
from ranksrgan.io.contracts import HR, RANK_PATCH_COLUMNS, stand_in_note, stand_in_notes
from ranksrgan.io.parquet import read_manifest
from ranksrgan.io.shards import PartialRows, fingerprint, shard_rows
from ranksrgan.io.verify import verify_sha256
from ranksrgan.metrics import Metric
from ranksrgan.rankdata.labels import orient
from ranksrgan.rankdata.positions import GRIDS, crop_batch, grid_positions, to_unit_tensor
from ranksrgan.rankdata.selection import cap_positions, image_seed, sharpness

log = logging.getLogger(__name__)

OK, SMALL = "ok", "smaller than one patch"

PATCH_COLUMNS = list(RANK_PATCH_COLUMNS)
PATCH_DTYPES = {
    "dataset": str,
    "image": str,
    "x": "int64",
    "y": "int64",
    "size": "int64",
    "method": str,
    "level": "int64",
    "path": str,
    "sha256": str,
    "hr_sha256": str,
    "score": "float64",
    "label": "float64",
    "metric": str,
    "sharpness": "float64",
    "niqe_gap": "float64",
    "stand_in": str,
}
IMAGE_COLUMNS = [
    "dataset",
    "image",
    "height",
    "width",
    "status",
    "n_grid",
    "n_sharpness",
    "n_gap",
    "n_kept",
    "n_gap_undefined",
    "seed",
    "hr_sha256",
]
IMAGE_DTYPES = {
    "dataset": str,
    "image": str,
    "height": "int64",
    "width": "int64",
    "status": str,
    "n_grid": "int64",
    "n_sharpness": "int64",
    "n_gap": "int64",
    "n_kept": "int64",
    "n_gap_undefined": "int64",
    "seed": "int64",
    "hr_sha256": str,
}


@dataclass(frozen=True)
class Selection:
    """Patch geometry and the selection rules (``None`` switches a rule off)."""

    size: int = 296
    stride: int = 148
    grid: str = "script"
    sharpness_min: float | None = 40.0
    sharpness_block: int = 96
    gap_min: float | None = 0.1
    max_per_image: int | None = 200
    seed: int = 0

    def __post_init__(self):
        if self.grid not in GRIDS:
            raise RankSRGANError(f"grid rule {self.grid!r}: must be one of {', '.join(GRIDS)}")
        if self.size < 1 or self.stride < 1 or self.sharpness_block < 1:
            raise RankSRGANError("patch size, stride and sharpness block must be >= 1")
        if self.max_per_image is not None and self.max_per_image < 1:
            raise RankSRGANError(f"max positions per image {self.max_per_image}: must be >= 1")


@dataclass(frozen=True)
class Level:
    """One method of the level order and where its images are listed."""

    method: str
    manifest: str | None  # the sr manifest; None for HR (the data manifest's hr_path)


@dataclass
class ImageResult:
    """What :func:`process_image` found on one image."""

    positions: list[tuple[int, int]]  # kept, 0-based (y, x)
    sharpness: np.ndarray  # per kept position (NaN when the rule is off)
    gap: np.ndarray  # per kept position (NaN when the rule is off)
    scores: np.ndarray  # levels x kept positions
    counts: dict[str, int]


def process_image(
    levels: Sequence[np.ndarray],
    sel: Selection,
    label: Metric,
    gap: Metric | None,
    seed: int,
    batch: int = 64,
    device: torch.device | str = "cpu",
) -> ImageResult:
    """Positions, selection and labels on one image given its levels' uint8 H x W x 3 arrays.

    The selection rules look at the top level (``levels[-1]``) and the one below it
    (``levels[-2]``); every level's patch at a kept position is labelled. A metric undefined
    on a patch gives NaN there (:func:`metric_or_nan`): a NaN NIQE distance drops the
    position (counted in ``counts["n_gap_undefined"]``), a NaN label stays in ``scores``.
    """
    h, w = levels[0].shape[:2]
    cand = grid_positions(h, w, sel.size, sel.stride, sel.grid)
    counts = {"n_grid": len(cand), "n_gap_undefined": 0}
    tensors = [to_unit_tensor(a, device) for a in levels]
    bs = max(1, int(batch))

    def crops(level: int, pos: list[tuple[int, int]]):
        for i in range(0, len(pos), bs):
            yield crop_batch(tensors[level], pos[i : i + bs], sel.size)

    def scores_of(metric: Metric, lvls: Sequence[int], pos: list[tuple[int, int]]) -> np.ndarray:
        # Every (level, position) patch in one stream of ``bs``-patch metric calls, across
        # levels: few large batches (on a GPU, fewer launches) and bounded memory.
        items = [(lv, p) for lv in lvls for p in pos]
        out = [
            metric_or_nan(
                metric,
                torch.stack(
                    [tensors[lv][:, y : y + sel.size, x : x + sel.size] for lv, (y, x) in chunk]
                ),
            )
            for chunk in (items[i : i + bs] for i in range(0, len(items), bs))
        ]
        return torch.cat(out).numpy().reshape(len(lvls), len(pos))

    sharp = np.full(len(cand), np.nan)
    if sel.sharpness_min is not None and cand:
        sharp = torch.cat(
            [sharpness(p, sel.sharpness_block).cpu() for p in crops(-1, cand)]
        ).numpy()
        keep = sharp >= sel.sharpness_min
        cand, sharp = [p for p, k in zip(cand, keep, strict=True) if k], sharp[keep]
    counts["n_sharpness"] = len(cand)

    gaps = np.full(len(cand), np.nan)
    if sel.gap_min is not None and cand:
        if gap is None or len(levels) < 2:
            raise RankSRGANError("the NIQE-distance rule needs its metric and two levels")
        mid, top = scores_of(gap, (len(levels) - 2, len(levels) - 1), cand)
        gaps = np.abs(mid - top)
        # NaN (NIQE undefined on either patch) fails the rule: the distance is unknown
        undefined = ~np.isfinite(gaps)
        counts["n_gap_undefined"] = int(undefined.sum())
        keep = gaps > sel.gap_min
        cand = [p for p, k in zip(cand, keep, strict=True) if k]
        sharp, gaps = sharp[keep], gaps[keep]
    counts["n_gap"] = len(cand)

    idx = cap_positions(len(cand), sel.max_per_image, seed)
    cand = [cand[i] for i in idx]
    sharp, gaps = sharp[idx], gaps[idx]
    counts["n_kept"] = len(cand)
    scores = np.zeros((len(levels), len(cand)))
    if cand:
        scores = scores_of(label, range(len(levels)), cand)
    return ImageResult(cand, sharp, gaps, scores, counts)


def metric_or_nan(metric: Metric, patches: torch.Tensor) -> torch.Tensor:
    """``metric(patches)`` as float64 on the CPU, NaN for each patch it is undefined on.

    NIQE and Ma raise for a whole batch when one patch is flat; the batch is then scored
    patch by patch so that only the undefined patches get NaN (rare: flat patches are few).
    """
    try:
        return metric(patches).detach().to("cpu", torch.float64)
    except MetricUndefinedError:
        pass
    values = []
    for p in patches:
        try:
            values.append(float(metric(p[None])[0]))
        except MetricUndefinedError:
            values.append(float("nan"))
    return torch.tensor(values, dtype=torch.float64)


def _level_table(data: pd.DataFrame, level: Level) -> pd.DataFrame:
    """image -> (path, sha256, height, width, stand_in) of one level, checked against the HR."""
    if level.method == HR:
        t = data[["image", "hr_path", "hr_sha256", "height", "width"]].copy()
        t.columns = ["image", "path", "sha256", "height", "width"]
        t["stand_in"] = ""
        return t.set_index("image")
    if not level.manifest:
        raise RankSRGANError(
            f"method {level.method}: an sr manifest is required (only HR has none)"
        )
    sr = read_manifest(
        level.manifest, ("image", "path", "sr_sha256", "height", "width"), "sr manifest"
    )
    missing = sorted(set(data["image"]) - set(sr["image"]))
    if missing:
        raise RankSRGANError(
            f"{level.manifest}: image {missing[0]} has no {level.method} output "
            f"(method {level.method})"
        )
    t = pd.DataFrame(
        {
            "image": sr["image"],
            "path": sr["path"].astype(str),
            "sha256": sr["sr_sha256"].astype(str),
            "height": sr["height"],
            "width": sr["width"],
            "stand_in": stand_in_notes(sr, level.manifest),
        }
    ).set_index("image")
    hr = data.set_index("image")
    both = t.loc[data["image"]]
    bad = (both["height"].to_numpy() != hr["height"].to_numpy()) | (
        both["width"].to_numpy() != hr["width"].to_numpy()
    )
    if bad.any():
        name = data["image"][bad].iloc[0]
        raise RankSRGANError(
            f"{level.manifest}: {level.method} image {name} is "
            f"{both.loc[name, 'height']}x{both.loc[name, 'width']}, "
            f"its HR image is {hr.loc[name, 'height']}x{hr.loc[name, 'width']} "
            f"(method {level.method})"
        )
    return t


def images_path(out: str | os.PathLike) -> Path:
    """The per-image table written beside a shard's patch rows."""
    out = Path(out)
    return out.with_name(out.name.removesuffix(".parquet") + ".images.parquet")


def run_shard(
    dataset: str,
    data_manifest: str | os.PathLike,
    levels: Sequence[Level],
    sel: Selection,
    label: Metric,
    gap: Metric | None,
    out: str | os.PathLike,
    shard: int | None = None,
    shard_size: int = 1,
    batch: int = 64,
    device: torch.device | str = "cpu",
    policy: ImagePolicy | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Process shard ``shard`` of ``dataset`` and write ``out`` + ``images_path(out)``.

    Raises a one-line error naming the image and method when a method's manifest lacks an
    image of the data manifest or its image size differs from the HR image's.
    """
    if len(levels) < 2:
        raise RankSRGANError("a rank dataset needs at least two methods (levels)")
    names = [lv.method for lv in levels]
    if len(set(names)) != len(names):
        raise RankSRGANError(f"methods repeat in the level order: {names}")
    policy = policy or ImagePolicy()
    out = Path(out)
    data = read_manifest(
        data_manifest, ("image", "hr_path", "hr_sha256", "height", "width"), "data manifest"
    )
    tables = [_level_table(data, lv) for lv in levels]
    rows = shard_rows(data, shard, shard_size, source=data_manifest)
    params = {
        # rows recorded before undefined patches were tolerated lack n_gap_undefined
        "undefined_patches": "NaN, position dropped",
        "selection": asdict(sel),
        "levels": names,
        "label": label.params_hash,
        "gap": gap.params_hash if gap is not None else None,
    }
    patches = PartialRows(out, PATCH_COLUMNS, dtypes=PATCH_DTYPES)
    images = PartialRows(images_path(out), IMAGE_COLUMNS, dtypes=IMAGE_DTYPES)
    todo = []  # (row, fingerprint) of the images to compute, in shard order
    for r in rows.itertuples():
        image = str(r.image)
        fp = fingerprint(r.hr_sha256, [t.loc[image, "sha256"] for t in tables], params)
        prev = images.reuse(image, fp)
        if prev is not None:
            if int(prev["n_kept"].iloc[0]) == 0:
                patches.add(image, fp, [])
                continue
            if patches.reuse(image, fp) is not None:
                continue
        if min(int(r.height), int(r.width)) < sel.size:
            counts = {"n_grid": 0, "n_sharpness": 0, "n_gap": 0, "n_kept": 0, "n_gap_undefined": 0}
            patches.add(image, fp, [])
            images.add(image, fp, [{**_info(dataset, r, sel.seed), "status": SMALL, **counts}])
            log.info(
                "%s/%s: %dx%d, smaller than one patch: skipped", dataset, image, r.height, r.width
            )
            continue
        todo.append((r, fp))

    sources = [
        f"{lv.manifest} (sr manifest)" if lv.manifest else f"{data_manifest} (data manifest)"
        for lv in levels
    ]

    def read(r) -> list[np.ndarray]:
        return _read_levels(str(r.image), r, levels, tables, sources, policy)

    # Decoding the next image's PNGs (PIL releases the GIL) overlaps the metrics of this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(read, todo[0][0]) if todo else None
        for i, (r, fp) in enumerate(todo):
            assert pending is not None  # submitted for every image of todo
            arrays = pending.result()
            pending = pool.submit(read, todo[i + 1][0]) if i + 1 < len(todo) else None
            _compute_image(
                dataset,
                r,
                fp,
                arrays,
                levels,
                tables,
                sel,
                label,
                gap,
                batch,
                device,
                out,
                patches,
                images,
            )
    order = [str(i) for i in rows["image"]]
    return patches.finish(order), images.finish(order)


def _info(dataset: str, r, seed: int) -> dict:
    return {
        "dataset": dataset,
        "image": str(r.image),
        "height": int(r.height),
        "width": int(r.width),
        "seed": image_seed(seed, dataset, str(r.image)),
        "hr_sha256": str(r.hr_sha256),
    }


def _read_levels(image, r, levels, tables, sources, policy) -> list[np.ndarray]:
    """Every level's image of one source image, each checked against its manifest's sha256
    and the HR image's size."""
    arrays = []
    for lv, t, src in zip(levels, tables, sources, strict=True):
        where = f"{src}, image {image} (method {lv.method})"
        verify_sha256(t.loc[image, "path"], t.loc[image, "sha256"], where)
        a = read_image(t.loc[image, "path"], policy)
        if a.shape[:2] != (int(r.height), int(r.width)):
            raise RankSRGANError(
                f"{t.loc[image, 'path']}: {lv.method} image {image} is "
                f"{a.shape[0]}x{a.shape[1]}, its HR image is {r.height}x{r.width} "
                f"(method {lv.method})"
            )
        arrays.append(a)
    return arrays


def _compute_image(
    dataset, r, fp, arrays, levels, tables, sel, label, gap, batch, device, out, patches, images
) -> None:
    """Select and label one image; record its rows and its image-table row."""
    image = str(r.image)
    t0 = time.perf_counter()
    info = _info(dataset, r, sel.seed)
    seed = info["seed"]
    res = process_image(arrays, sel, label, gap, seed, batch, device)
    labels = orient(res.scores, label.lower_better)
    # per level, the one encoding (ranksrgan.io.contracts): the SR output's and the label's
    # stand-in reasons
    notes = [stand_in_note([t.loc[image, "stand_in"], label.stand_in]) for t in tables]
    out_rows = []
    for k, (y, x) in enumerate(res.positions):
        for lv, (level, t) in enumerate(zip(levels, tables, strict=True)):
            out_rows.append(
                {
                    "dataset": dataset,
                    "image": image,
                    "x": x,
                    "y": y,
                    "size": sel.size,
                    "method": level.method,
                    "level": lv,
                    "path": os.path.relpath(
                        os.path.abspath(t.loc[image, "path"]), os.path.abspath(out.parent)
                    ),
                    "sha256": t.loc[image, "sha256"],
                    "hr_sha256": str(r.hr_sha256),
                    "score": float(res.scores[lv, k]),
                    "label": float(labels[lv, k]),
                    "metric": label.name,
                    "sharpness": float(res.sharpness[k]),
                    "niqe_gap": float(res.gap[k]),
                    "stand_in": notes[lv],
                }
            )
    undefined = ~np.isfinite(res.scores)
    if undefined.any():
        k = int(undefined.any(axis=0).argmax())
        log.warning(
            "%s/%s: %s undefined at %d of %d positions (flat patches; first: method %s at "
            "x=%d y=%d): the gather leaves them out",
            dataset,
            image,
            label.name,
            int(undefined.any(axis=0).sum()),
            len(res.positions),
            levels[int(undefined[:, k].argmax())].method,
            res.positions[k][1],
            res.positions[k][0],
        )
    if res.counts["n_gap_undefined"]:
        log.warning(
            "%s/%s: NIQE distance undefined at %d positions (flat patches): dropped",
            dataset,
            image,
            res.counts["n_gap_undefined"],
        )
    patches.add(image, fp, out_rows)
    images.add(image, fp, [{**info, "status": OK, **res.counts}])
    log.info(
        "%s/%s: %s positions -> %d kept, %d patches labelled in %.2f s",
        dataset,
        image,
        res.counts["n_grid"],
        res.counts["n_kept"],
        len(out_rows),
        time.perf_counter() - t0,
    )
