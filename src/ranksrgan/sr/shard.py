"""One shard of one dataset with one method: LR images in, PNGs + a shard manifest out.

Shard ``k`` holds images ``i`` (0-based, sorted by name) with ``i // shard_size == k``
(``ranksrgan.io.shards``). Resumable: every PNG gets a sidecar JSON
(``<out_dir>/.sidecar/<image>.json``) recording what produced it (the LR file's sha256, method,
weights hash, precision, tiling) and the PNG's own hash; a rerun skips images whose PNG and
sidecar still match. The shard manifest is written last, atomically, with paths relative to
its own folder.

The data manifest's ``image`` values name the PNGs and sidecars, so each must be a plain file
name, and its relative ``lr_path`` values must stay in the manifest's folder; each LR file is
checked against the manifest's ``lr_sha256`` (one line naming the file, table and row).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ranksrgan.errors import RankSRGANError
from ranksrgan.io import read_image, write_png
from ranksrgan.io.contracts import (
    DATA_MANIFEST_COLUMNS,
    SR_MANIFEST_COLUMNS,
    STAND_IN,
    stand_in_note,
    stand_in_of,
)
from ranksrgan.io.device import pick_device
from ranksrgan.io.parquet import read_manifest, write_manifest
from ranksrgan.io.shards import (
    fingerprint,
    read_sidecar,
    require_files,
    sidecar_path,
    write_sidecar,
)
from ranksrgan.io.shards import shard_rows as shard_of
from ranksrgan.io.verify import verify_sha256
from ranksrgan.sr.inference import (
    InferenceOptions,
    bicubic_upscale,
    prepare_model,
    upscale_image,
)

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = list(DATA_MANIFEST_COLUMNS)
SHARD_COLUMNS = list(SR_MANIFEST_COLUMNS)


@dataclass(frozen=True)
class MethodSpec:
    """A method as plain values: ``bicubic``, or a network + a verified local weights file."""

    name: str
    kind: str = "network"  # "bicubic" | "network"
    arch: str | None = None
    arch_options: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None
    weights_sha256: str | None = None  # expected: full hash or a prefix; None = file-name prefix
    layout: str = "auto"
    param_key: str = "auto"
    stand_in: str | None = None  # a stand-in note overriding the G.json sidecar's (None: G.json)


def read_weights_sidecar(weights: str | os.PathLike) -> dict[str, Any] | None:
    """The training stage's ``G.json`` beside ``G.pth`` (same stem), if any."""
    from ranksrgan.fit.export import read_metadata  # the toolkit owns the sidecar format

    return read_metadata(weights)


def weights_sidecar_path(weights: str | os.PathLike) -> Path:
    """Where :func:`read_weights_sidecar` looks (for messages)."""
    from ranksrgan.fit.export import metadata_path

    return metadata_path(weights)


class Upscaler:
    """Builds a method once and super-resolves uint8 images with it."""

    def __init__(
        self,
        spec: MethodSpec,
        device: str = "auto",
        opts: InferenceOptions | None = None,
        scale: int = 4,
    ):
        opts = opts if opts is not None else InferenceOptions()
        self.spec, self.opts, self.scale = spec, opts, scale
        # the one stand-in encoding (ranksrgan.io.contracts): a note, "" = not a stand-in
        self.stand_in = stand_in_note([spec.stand_in])
        if spec.kind == "bicubic":
            self.model, self.weights_sha256, self.device, self.precision = None, None, "cpu", "fp64"
            self.weights_name = None
            return
        if spec.kind != "network" or not spec.arch or not spec.weights:
            raise RankSRGANError(
                f"method '{spec.name}': a network method needs an arch and a weights file"
            )
        from ranksrgan import archs, weights

        side = read_weights_sidecar(spec.weights)
        # which weights made the numbers (ESRGAN_SuperSR.pth vs the released DF2K+OST file):
        # the file name, or the training stage's preset for a G.pth with its G.json
        self.weights_name = (
            f"train:{side['preset']}"
            + (f":{side['weights_variant']}" if side.get("weights_variant") else "")
            if side is not None and side.get("preset")
            else os.path.basename(spec.weights)
        )
        if side is not None:
            self._check_sidecar(side)
            if spec.stand_in is None:
                self.stand_in = stand_in_of(side.get(STAND_IN), weights_sidecar_path(spec.weights))
        expected = spec.weights_sha256
        if expected is None and side is not None:
            expected = side.get("weights_sha256")  # the training stage records G.pth's hash
        model = archs.build(spec.arch, **spec.arch_options)
        self.weights_sha256 = weights.load(
            model, spec.weights, spec.layout, expected, spec.param_key
        )
        dev = pick_device(device)
        self.model = prepare_model(model, dev, opts)
        self.torch_device = dev
        self.device = str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev)
        self.precision = opts.precision + ("+channels_last" if opts.channels_last else "")

    def _check_sidecar(self, side: dict[str, Any]) -> None:
        arch, opts = side.get("arch"), side.get("arch_options")
        if arch is not None and (
            arch != self.spec.arch or (opts is not None and opts != self.spec.arch_options)
        ):
            raise RankSRGANError(
                f"{self.spec.weights}: trained as {arch} {opts}, but method '{self.spec.name}' "
                f"builds {self.spec.arch} {self.spec.arch_options} "
                f"(align methods.{self.spec.name}.arch_options)"
            )

    def fingerprint(self) -> dict[str, Any]:
        """Everything that determines the output bits (stored in each image's sidecar)."""
        fp = {"method": self.spec.name, "kind": self.spec.kind, "scale": self.scale}
        if self.model is not None:
            fp.update(
                arch=self.spec.arch,
                arch_options=self.spec.arch_options,
                weights_sha256=self.weights_sha256,
                inference=asdict(self.opts),
                device=self.device,
            )
        return fp

    def __call__(self, lr, image: str | None = None):
        if self.model is None:
            return bicubic_upscale(lr, self.scale)
        source = f"method '{self.spec.name}' ({self.spec.weights})"
        out = upscale_image(
            self.model, lr, self.scale, self.torch_device, self.opts, image=image, source=source
        )
        if self.torch_device.type == "cuda":
            torch.cuda.synchronize()
        return out


def shard_rows(manifest: str | os.PathLike, shard: int, shard_size: int) -> pd.DataFrame:
    """Rows of shard ``shard`` of a data manifest (``ranksrgan.io.shards.shard_rows``)."""
    p = Path(manifest)
    df = read_manifest(p, ("image", "lr_path", "lr_sha256"), "data manifest")
    return shard_of(df, shard, shard_size, source=p)


def _lr_sha256(row, manifest: str | os.PathLike) -> str:
    """The LR file's own hash; one line when it no longer matches the data manifest."""
    where = f"{manifest} (data manifest), image {row.image}"
    return verify_sha256(row.lr_path, row.lr_sha256, where, "the data stage")


def run_shard(
    manifest: str | os.PathLike,
    shard: int,
    shard_size: int,
    out_dir: str | os.PathLike,
    shard_out: str | os.PathLike,
    upscaler: Upscaler,
    progress: bool = True,
) -> pd.DataFrame:
    """Super-resolve one shard; write ``out_dir/<image>.png`` and the shard manifest.

    A PNG is reused only when its sidecar records the same LR sha256 (of the file as it is
    now) and the same method fingerprint (weights sha256, arch and inference options) and the
    PNG still has the hash recorded when it was written. The returned table's paths are
    usable from the working directory; the file stores them relative to its own folder.
    """
    from tqdm import tqdm

    rows = shard_rows(manifest, shard, shard_size)
    require_files(zip(rows["image"], rows["lr_path"], strict=True), "LR image")
    out = Path(out_dir)
    method_fp = upscaler.fingerprint()
    records, reused = [], 0
    for row in tqdm(
        rows.itertuples(index=False),
        total=len(rows),
        disable=not progress,
        desc=f"{upscaler.spec.name} shard {shard}",
        unit="img",
    ):
        png, side = out / f"{row.image}.png", sidecar_path(out, row.image)
        lr_sha = _lr_sha256(row, manifest)
        fp = fingerprint(method_fp, lr_sha)
        rec = read_sidecar(png, side, fp)
        if rec is None:
            lr = read_image(row.lr_path)
            t0 = time.perf_counter()
            sr = upscaler(lr, image=str(row.lr_path))
            runtime = time.perf_counter() - t0
            want = (lr.shape[0] * upscaler.scale, lr.shape[1] * upscaler.scale)
            if sr.shape[:2] != want:
                raise RankSRGANError(
                    f"{row.lr_path}: {upscaler.spec.name} gave {sr.shape[:2]}, expected {want}"
                )
            write_png(png, sr)
            rec = write_sidecar(
                png,
                side,
                fp,
                method=method_fp,  # readable copies of what the fingerprint covers
                lr_sha256=lr_sha,
                runtime_s=runtime,
                height=int(sr.shape[0]),
                width=int(sr.shape[1]),
            )
        else:
            reused += 1
        records.append(
            {
                "image": row.image,
                "method": upscaler.spec.name,
                "path": str(png),
                "height": rec["height"],
                "width": rec["width"],
                "sr_sha256": rec["output_sha256"],
                "lr_sha256": lr_sha,
                "weights": upscaler.weights_name,
                "weights_sha256": upscaler.weights_sha256,
                "runtime_s": float(rec["runtime_s"]),
                "device": upscaler.device,
                "precision": upscaler.precision,
                "stand_in": upscaler.stand_in,
            }
        )
    if reused:
        log.info("shard %d: reused %d of %d images from an earlier run", shard, reused, len(rows))
    df = pd.DataFrame(records, columns=SHARD_COLUMNS).astype(
        {"weights": "string", "weights_sha256": "string", "stand_in": "string"}
    )
    write_manifest(df, shard_out)
    return df
