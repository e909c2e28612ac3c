"""Readers of the files the report takes: every other stage's outputs, never their code.

Each reader takes explicit paths (the rule passes only what the config enables) and returns
plain DataFrames / dicts. A path that was passed but does not exist or lacks a column is an
error naming the file; an input that was not passed at all simply yields an empty frame, and
the tables then say "not run".
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.contracts import STAND_IN, read_table, stand_in_notes, stand_in_of
from ranksrgan.io.parquet import read_manifest

SCORE_COLUMNS = ("dataset", "method", "image", "metric", "value", "stand_in", "error")
CURVE_COLUMNS = ["preset", "iteration", "image", "psnr", "niqe", "stand_in"]
INDEX_COLUMNS = ("image", "method", "score")
EVAL_COLUMNS = ("output", "label")

Paths = Sequence[str | os.PathLike]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RankSRGANError(f"{path}: cannot read JSON ({exc})") from None


def read_scores(paths: Paths) -> pd.DataFrame:
    """Concatenated score Parquets (``R/scores/{dataset}/{method}.parquet``); ``stand_in``
    as the note of each row (``ranksrgan.io.contracts``: ``""`` = not a stand-in)."""
    frames = [_with_notes(read_table(p, SCORE_COLUMNS, "score Parquet"), p) for p in paths]
    if not frames:
        return pd.DataFrame(columns=[*SCORE_COLUMNS, "protocol"])
    df = pd.concat(frames, ignore_index=True)
    for col in ("protocol", "error"):
        if col not in df.columns:
            df[col] = ""
        df[col] = df[col].fillna("").astype(str)
    return df


def _with_notes(df: pd.DataFrame, path: str | os.PathLike) -> pd.DataFrame:
    """``df`` with its ``stand_in`` as notes, the one encoding (``""`` where the file has no
    such column; a True flag of an older file is an error naming ``path``)."""
    return df.assign(**{STAND_IN: stand_in_notes(df, path)})


@dataclass
class Training:
    """Validation curves of every preset (``curves``) and each preset's ``G.json``."""

    curves: pd.DataFrame
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)


def read_training(g_json_paths: Paths) -> Training:
    """``G.json`` files and the ``val.parquet`` beside each (``R/train/{preset}/``)."""
    frames, meta = [], {}
    for path in g_json_paths:
        p = Path(path)
        if not p.is_file():
            raise RankSRGANError(f"{p}: training metadata (G.json) not found")
        m = _read_json(p)
        if STAND_IN in m:
            m[STAND_IN] = stand_in_of(m[STAND_IN], p)
        preset = str(m.get("preset") or p.parent.name)
        meta[preset] = m
        val = p.with_name("val.parquet")
        if val.is_file():
            v = read_table(val, ("iteration", "psnr", "niqe"), "validation curve")
            v = _with_notes(v, val).assign(preset=preset)
            if "image" not in v.columns:
                v["image"] = ""
            frames.append(v[CURVE_COLUMNS])
    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CURVE_COLUMNS)
    return Training(curves, meta)


def read_data_manifests(paths: Paths) -> pd.DataFrame:
    """One row per dataset: image count and a digest over its images' HR/LR sha256s."""
    rows = []
    for path in paths:
        df = read_manifest(path, ("image", "hr_sha256"), "data manifest")
        lines = "".join(
            f"{r.image} {r.hr_sha256} {getattr(r, 'lr_sha256', '')}\n" for r in df.itertuples()
        )
        rows.append(
            {
                "dataset": Path(path).parent.name,
                "images": len(df),
                "sha256": hashlib.sha256(lines.encode()).hexdigest(),
                "manifest": str(path),
            }
        )
    return pd.DataFrame(rows, columns=["dataset", "images", "sha256", "manifest"])


def read_sr_manifests(paths: Paths) -> pd.DataFrame:
    """SR manifests (``R/sr/{method}/{dataset}/manifest.parquet``) with a ``dataset`` column."""
    frames = []
    for path in paths:
        # (a relative path must not lead the crop figure outside the manifest's folder)
        df = read_manifest(path, ("image", "method", "path"), "sr manifest")
        frames.append(_with_notes(df, path).assign(dataset=Path(path).parent.name))
    if not frames:
        return pd.DataFrame(
            columns=["image", "method", "path", "dataset", "weights", "weights_sha256"]
        )
    df = pd.concat(frames, ignore_index=True)
    for col in ("weights", "weights_sha256", "precision"):  # older manifests
        if col not in df.columns:
            df[col] = None
    return df


def read_rankdata(index_paths: Paths) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Rank indexes (``R/rankdata/{name}/index.parquet``) and the ``stats.json`` beside each."""
    frames, stats = [], {}
    for path in index_paths:
        p = Path(path)
        name = p.parent.name
        frames.append(_with_notes(read_table(p, INDEX_COLUMNS, "rank index"), p)
                      .assign(name=name))
        s = p.with_name("stats.json")
        if s.is_file():
            stats[name] = _read_json(s)
    index = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=[*INDEX_COLUMNS, "name"]
    )
    return index, stats


def read_ranker_evals(paths: Paths) -> pd.DataFrame:
    """Per-patch Ranker outputs and labels (``R/ranker/{name}/eval.parquet``), with ``name``."""
    frames = [
        _with_notes(read_table(p, EVAL_COLUMNS, "Ranker evaluation"), p)
        .assign(name=Path(p).parent.name)
        for p in paths
    ]
    if not frames:
        return pd.DataFrame(columns=[*EVAL_COLUMNS, "method", "name"])
    df = pd.concat(frames, ignore_index=True)
    if "method" not in df.columns:
        df["method"] = ""
    return df


def read_ranker_summaries(eval_paths: Paths) -> dict[str, dict[str, Any]]:
    """The Ranker stage's own numbers beside each ``R/ranker/{name}/eval.parquet``.

    ``eval_summary.json`` (Table 5's ``e_sr1_sr2`` after the rank-content sigmoid, with
    ``e_sr1_sr2_raw``, ``sr1``, ``sr2``, ``n_sr1_sr2``; ``n_params`` when the run recorded
    it), and ``n_params`` from ``model.json`` when only that file has it. ``n_params_from``
    names the file the count came from. A Ranker without either file maps to ``{}`` (the
    report then computes from eval.parquet what it can); a file that is there but not a
    JSON object is an error naming it.
    """
    out: dict[str, dict[str, Any]] = {}
    for path in eval_paths:
        p = Path(path)
        summary: dict[str, Any] = {}
        for fname in ("model.json", "eval_summary.json"):  # the evaluation's own file wins
            f = p.with_name(fname)
            if not f.is_file():
                continue
            data = _read_json(f)
            if not isinstance(data, dict):
                raise RankSRGANError(f"{f}: expected a JSON object, got {type(data).__name__}")
            if fname == "model.json":
                data = {k: data[k] for k in ("n_params",) if k in data}
            elif STAND_IN in data:
                data[STAND_IN] = stand_in_of(data[STAND_IN], f)
            if data.get("n_params") is not None:
                summary["n_params_from"] = fname
            summary.update({k: v for k, v in data.items()
                            if not (k == "n_params" and v is None)})
        out[p.parent.name] = summary
    return out


def read_dataset_images(paths: Paths) -> dict[str, list[str]]:
    """Image names per dataset (``R/data/{dataset}/manifest.parquet``): what a score mean
    should cover, so that an image without a score row is counted as left out."""
    return {
        Path(path).parent.name: [str(i) for i in read_manifest(path, ("image",), "data manifest")
                                 ["image"]]
        for path in paths
    }
