"""Every file the report stage reads, fabricated for a config's results folder: no training,
no SR, no scoring, plausible small numbers (the report's tests of whole configs, e.g. the
miniature study's ``config/mini.yaml``).

:func:`fabricate_report_inputs` writes, under the config's ``results_dir`` and at the
paths of the one layout (:class:`ranksrgan.layout.Layout`), what the report rule
(``workflow/rules/report_common.smk`` ``report_inputs``) hands ``ranksrgan report build``:

- ``data``: a manifest per scored dataset (``images`` of ``datasets.<name>``, small PNGs);
- ``sr``: a manifest per scored method (HR aside) x dataset, a PNG per image, ``weights``
  ``train:<preset>`` for a trained method as the sr stage writes it;
- ``scores``: a long score Parquet (:data:`ranksrgan.io.contracts.SCORE_COLUMNS`) per
  method x dataset with every ``score.metrics`` metric (HR: the no-reference ones), Ma / PI
  rows noted as the synthetic NRQM stand-in;
- ``train``: ``G.json`` and ``val.parquet`` per train target;
- ``rankdata``: ``index.parquet`` (:data:`~ranksrgan.io.contracts.RANK_INDEX_COLUMNS`) and
  ``stats.json`` per rank dataset, its levels the rank dataset's ``methods``;
- ``rankers``: ``eval.parquet`` (the validation patches of its rank dataset with an output),
  ``eval_summary.json`` (SROCC, Table 5's ``e_sr1_sr2``, ``n_params``) and ``model.json``.

It returns the file lists by the report CLI's input groups
(:data:`ranksrgan.table_plan.INPUT_GROUPS`), in the order the rule lists them.
"""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from ranksrgan.io.contracts import (
    DATA_MANIFEST_COLUMNS,
    HR,
    RANK_INDEX_COLUMNS,
    RANK_INDEX_EXTRA_COLUMNS,
    SCORE_COLUMNS,
    SR_MANIFEST_COLUMNS,
)
from ranksrgan.layout import Layout

SIZE = 64  # side of every fabricated image (HR and SR alike, as the score stage requires)
NRQM_NOTE = "SYNTHETIC NRQM model (Ma, PI)"
RUN_NOTE = "fabricated test run"
PROTOCOL = json.dumps({"colour": "y", "shave": 4, "quantize": True})
NO_REFERENCE = ("niqe", "ma", "pi")  # what HR is scored with (against itself)
# per-method mean scores: (niqe, ma, psnr, ssim); other methods get a value from their name
LEVELS = {"bicubic": (7.3, 3.1, 26.4, 0.74), "fsrcnn": (6.8, 4.0, 27.3, 0.77),
          "srresnet": (6.0, 4.8, 28.1, 0.80), "srgan": (3.2, 8.3, 25.6, 0.70),
          "esrgan": (2.9, 8.5, 25.3, 0.69), HR: (2.8, 8.6, math.inf, 1.0)}
PARAMS = {"ranker_vgg8": 7_069_000, "ranker_vgg12": 13_734_000, "ranker_vgg16": 19_194_000}
RANK_IMAGES = 4  # source images of every fabricated rank dataset (the last one validates)
RANK_POSITIONS = 3  # patch positions per source image


def _rng(*names: str) -> np.random.Generator:
    """A generator seeded by names (stable across runs and processes)."""
    return np.random.default_rng(zlib.crc32("/".join(names).encode()))


def _means(method: str) -> tuple[float, float, float, float]:
    if method in LEVELS:
        return LEVELS[method]
    r = _rng("means", method)  # a GAN-like method: low NIQE, high Ma, mid PSNR
    return (2.5 + r.uniform(0, 1), 8.0 + r.uniform(0, 1), 25.0 + r.uniform(0, 1.5),
            0.68 + r.uniform(0, 0.05))


def _png(path: Path, seed: str) -> str:
    """A small RGB image (a gradient with noise); returns its file name."""
    r = _rng("png", seed)
    ramp = np.linspace(0, 200, SIZE)[None, :, None] + np.linspace(0, 40, SIZE)[:, None, None]
    img = np.clip(ramp + r.normal(0, 12, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path.name


def image_names(config: dict[str, Any], dataset: str) -> list[str]:
    """The fabricated images of a dataset: ``im0`` ... (``datasets.<name>.images``, else 3)."""
    n = int(((config.get("datasets") or {}).get(dataset) or {}).get("images") or 3)
    return [f"im{i}" for i in range(n)]


def write_data_manifest(lay: Layout, config: dict[str, Any], dataset: str) -> str:
    path = Path(lay.data_manifest(dataset))
    rows = []
    for im in image_names(config, dataset):
        hr = _png(path.parent / "HR" / f"{im}.png", f"{dataset}/{im}")
        rows.append({"image": im, "hr_path": f"HR/{hr}", "lr_path": "", "height": SIZE,
                     "width": SIZE, "hr_sha256": f"{zlib.crc32(hr.encode()):064x}",
                     "lr_sha256": "0" * 64})
    pd.DataFrame(rows, columns=list(DATA_MANIFEST_COLUMNS)).to_parquet(path)
    return str(path)


def write_sr_manifest(lay: Layout, config: dict[str, Any], method: str, dataset: str) -> str:
    path = Path(lay.sr_manifest(method, dataset))
    preset = ((config.get("methods") or {}).get(method) or {}).get("train_preset")
    rows = []
    for im in image_names(config, dataset):
        name = _png(path.parent / f"{im}.png", f"{method}/{dataset}/{im}")
        rows.append({"image": im, "method": method, "path": name, "height": SIZE, "width": SIZE,
                     "sr_sha256": "1" * 64, "lr_sha256": "0" * 64,
                     "weights": f"train:{preset}" if preset else None,
                     "weights_sha256": "2" * 64 if preset else None, "runtime_s": 0.01,
                     "device": "cpu", "precision": "fp32",
                     "stand_in": RUN_NOTE if preset else ""})
    pd.DataFrame(rows, columns=list(SR_MANIFEST_COLUMNS)).to_parquet(path)
    return str(path)


def write_scores(lay: Layout, config: dict[str, Any], method: str, dataset: str) -> str:
    """A method's score Parquet: every configured metric per image (HR: no-reference ones)."""
    path = Path(lay.score_table(dataset, method))
    metrics = (config.get("score") or {}).get("metrics") or ["niqe", "ma", "pi", "psnr"]
    if method == HR:
        metrics = [m for m in metrics if m in NO_REFERENCE]
    niqe, ma, psnr, ssim = _means(method)
    r = _rng("scores", method, dataset)
    rows = []
    for im in image_names(config, dataset):
        v = {"niqe": niqe + r.normal(0, 0.3), "ma": min(ma + r.normal(0, 0.3), 9.9),
             "psnr": psnr + r.normal(0, 0.5), "ssim": min(ssim + r.normal(0, 0.02), 1.0)}
        v["pi"] = 0.5 * ((10.0 - v["ma"]) + v["niqe"])
        for metric in metrics:
            trained = method not in ("bicubic", HR)
            note = "; ".join(n for n in (RUN_NOTE if trained else "",
                                         NRQM_NOTE if metric in ("ma", "pi") else "") if n)
            rows.append({"dataset": dataset, "method": method, "image": im, "metric": metric,
                         "value": float(v[metric]), "height": SIZE, "width": SIZE,
                         "colour": "y", "shave": 4, "protocol": PROTOCOL, "params_hash": "h",
                         "stand_in": note, "error": ""})
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=list(SCORE_COLUMNS)).to_parquet(path)
    return str(path)


def write_training(lay: Layout, config: dict[str, Any], preset: str) -> str:
    """``G.json`` and ``val.parquet`` of one train target (three validation steps)."""
    path = Path(lay.train_meta(preset))
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = ((config.get("train") or {}).get("presets") or {}).get(preset) or {}
    iterations = int(spec.get("iterations") or 60)
    niqe, _, psnr, _ = _means(preset)
    steps = [iterations // 3, 2 * iterations // 3, iterations]
    val = pd.DataFrame([{"preset": preset, "iteration": it, "image": im,
                         "psnr": psnr - 0.5 + 0.5 * k, "niqe": niqe + 1.0 - 0.5 * k,
                         "stand_in": RUN_NOTE}
                        for k, it in enumerate(steps) for im in ("v0", "v1")])
    val.to_parquet(path.with_name("val.parquet"))
    last = val[val["iteration"] == iterations]
    path.write_text(json.dumps({
        "preset": preset, "arch": "srresnet", "iterations": iterations, "init_from": None,
        "rankers": [], "stand_in": RUN_NOTE, "weights_sha256": "3" * 64,
        "last_validation": {"iteration": iterations, "psnr": float(last["psnr"].mean()),
                            "niqe": float(last["niqe"].mean())},
        "world_size": 1,
    }, indent=2))
    return str(path)


def rank_index_frame(name: str, spec: dict[str, Any]) -> pd.DataFrame:
    """A small rank index: every level of ``spec['methods']`` at each position, labels lower
    for the higher level; the last source image is the validation split."""
    methods = list(spec.get("methods") or ["srresnet", "srgan", "esrgan"])
    metric = str(spec.get("metric") or "niqe")
    size = int(spec.get("size") or 32)
    r = _rng("rankdata", name)
    rows = []
    for i in range(RANK_IMAGES):
        for p in range(RANK_POSITIONS):
            for level, method in enumerate(methods):
                score = _means(method)[0] + r.normal(0, 0.2)
                rows.append({
                    "image": f"src{i}", "dataset": "fabricated", "x": p * size, "y": 0,
                    "size": size, "method": method, "level": level,
                    "path": f"../../data/fabricated/{method}/src{i}.png", "score": score,
                    "label": score, "metric": metric,
                    "split": "val" if i == RANK_IMAGES - 1 else "train",
                    "sharpness": 5.0, "niqe_gap": 0.5, "sha256": "4" * 64,
                    "hr_sha256": "5" * 64, "stand_in": RUN_NOTE,
                })
    return pd.DataFrame(rows, columns=[*RANK_INDEX_COLUMNS, *RANK_INDEX_EXTRA_COLUMNS])


def write_rankdata(lay: Layout, name: str, spec: dict[str, Any]) -> str:
    path = Path(lay.rank_index(name))
    path.parent.mkdir(parents=True, exist_ok=True)
    idx = rank_index_frame(name, spec)
    idx.to_parquet(path)
    positions = idx[["dataset", "image", "x", "y", "split"]].drop_duplicates()
    (path.parent / "stats.json").write_text(json.dumps({
        "positions": len(positions),
        "split": {"positions": positions["split"].value_counts().sort_index().to_dict()},
    }, indent=2))
    return str(path)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def write_ranker(lay: Layout, config: dict[str, Any], name: str) -> str:
    """A Ranker's ``eval.parquet`` (its rank dataset's validation patches with an output
    that orders them like the label, with noise), ``eval_summary.json`` and ``model.json``."""
    spec = (config.get("ranker") or {})[name]
    rd_name = spec["rankdata"]
    idx = rank_index_frame(rd_name, (config.get("rankdata") or {})[rd_name])
    ev = idx[idx["split"] == "val"][["dataset", "image", "x", "y", "size", "method", "level",
                                     "metric", "score", "label"]].reset_index(drop=True)
    r = _rng("ranker", name)
    ev["output"] = ev["label"] + r.normal(0, 0.1, len(ev))
    ev.insert(0, "ranker", name)
    ev["stand_in"] = RUN_NOTE
    path = Path(lay.ranker_eval(name))
    path.parent.mkdir(parents=True, exist_ok=True)
    ev.to_parquet(path)
    # Table 5: srgan vs esrgan, else the two highest levels (what the Ranker stage does)
    methods = set(ev["method"])
    if {"srgan", "esrgan"} <= methods:
        sr1, sr2 = "srgan", "esrgan"
    else:
        sr1, sr2 = (str(m) for m in ev.groupby("method")["level"].first().sort_values()
                    .index[-2:])
    w = ev.pivot_table(index=["dataset", "image", "x", "y"], columns="method", values="output")
    a, b = w[sr1].to_numpy(), w[sr2].to_numpy()
    srocc = float(ev["output"].rank().corr(ev["label"].rank()))
    n_params = PARAMS.get(str(spec.get("arch")), 5000)
    summary = {"ranker": name, "iterations": int(spec.get("iterations") or 100),
               "n_params": n_params, "n": len(ev), "srocc": srocc, "sr1": sr1, "sr2": sr2,
               "n_sr1_sr2": len(a), "e_sr1_sr2": float(np.mean(np.abs(_sigmoid(a) - _sigmoid(b)))),
               "e_sr1_sr2_raw": float(np.mean(np.abs(a - b))), "stand_in": RUN_NOTE}
    (path.parent / "eval_summary.json").write_text(json.dumps(summary, indent=2))
    (path.parent / "model.json").write_text(json.dumps({
        "ranker": name, "arch": spec.get("arch"), "n_params": n_params, "stand_in": RUN_NOTE,
    }, indent=2))
    return str(path)


def fabricate_report_inputs(config: dict[str, Any]) -> dict[str, list[str]]:
    """Write every file the report rule passes for ``config`` (see the module docstring);
    return them by input group (``scores``, ``data``, ``sr``, ``train``, ``rankdata``,
    ``rankers``), each in the rule's order."""
    lay = Layout.of(config)
    score = config.get("score") or {}
    methods, datasets = list(score.get("methods") or []), list(score.get("datasets") or [])
    return {
        "scores": [write_scores(lay, config, m, d) for d in datasets for m in methods],
        "data": [write_data_manifest(lay, config, d) for d in datasets],
        "sr": [write_sr_manifest(lay, config, m, d) for d in datasets for m in methods
               if m != HR],
        "train": [write_training(lay, config, p)
                  for p in (config.get("train") or {}).get("targets") or []],
        "rankdata": [write_rankdata(lay, n, spec)
                     for n, spec in sorted((config.get("rankdata") or {}).items())],
        "rankers": [write_ranker(lay, config, n) for n in sorted(config.get("ranker") or {})],
    }
