"""The report stage's inputs, made by hand: a small results folder (``make_run``: score
Parquets with a stand-in (synthetic NRQM) and an error row, a training curve with its G.json,
SR images cropped from a real scikit-image photo, a rank index and a Ranker evaluation), the
run mapping of its labels and the report the CLI builds from it (the report stage's tests)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from skimage import data as skdata

from ranksrgan.report.tables import RunMapping
from tests.support import REPO

PAPER = REPO / "config" / "paper_results.yaml"
SYNTH = "SYNTHETIC NRQM model"
PROTO = json.dumps({"colour": "y", "shave": 4, "quantize": True})


def score_rows(dataset, method, values: dict[str, list[float]], stand_in_metrics=("ma", "pi"),
               errors: dict[tuple[str, int], str] | None = None, note: str = "") -> pd.DataFrame:
    """Long score rows as the score stage writes them (one per image x metric)."""
    rows = []
    for metric, vals in values.items():
        for i, v in enumerate(vals):
            err = (errors or {}).get((metric, i), "")
            rows.append({
                "dataset": dataset, "method": method, "image": f"im{i}", "metric": metric,
                "value": np.nan if err else float(v), "height": 64, "width": 64, "colour": "y",
                "shave": 4, "protocol": PROTO, "params_hash": "h",
                "stand_in": "; ".join(n for n in (note, SYNTH if metric in stand_in_metrics
                                                  else "") if n),
                "error": err,
            })
    return pd.DataFrame(rows)


def make_run(root: Path, *, with_rank: bool = True) -> dict:
    """A small hand-made results folder; returns the input lists per kind."""
    R = root / "results"
    photo = skdata.astronaut()[::4, ::4]  # 128 x 128 real photo
    inputs = {k: [] for k in ("scores", "train", "data_manifests", "sr_manifests", "rankdata",
                              "rankers")}
    # data + sr manifests with real images (2 images of 64 x 64)
    ds = "demo_test"
    hr_dir = R / "data" / ds / "HR"
    hr_dir.mkdir(parents=True)
    man = []
    for i in range(2):
        p = hr_dir / f"im{i}.png"
        Image.fromarray(np.ascontiguousarray(photo[i * 64:(i + 1) * 64, :64])).save(p)
        man.append({"image": f"im{i}", "hr_path": str(p), "lr_path": "", "height": 64,
                    "width": 64, "hr_sha256": f"{i}" * 64, "lr_sha256": "e" * 64})
    pd.DataFrame(man).to_parquet(R / "data" / ds / "manifest.parquet")
    inputs["data_manifests"].append(R / "data" / ds / "manifest.parquet")
    values = {
        "bicubic": {"niqe": [7.0, 8.0], "ma": [3.0, 3.5], "pi": [7.0, 7.2], "psnr": [26, 27]},
        "srgan": {"niqe": [3.0, 3.2], "ma": [8.5, 8.7], "pi": [2.3, 2.2], "psnr": [25, 25.5]},
        "ranksrgan": {"niqe": [2.4, 2.6], "ma": [8.6, 8.8], "pi": [2.0, 1.9], "psnr": [25, 26]},
    }
    for k, (method, vals) in enumerate(values.items()):
        sr_dir = R / "sr" / method / ds
        sr_dir.mkdir(parents=True)
        rows = []
        for i in range(2):
            p = sr_dir / f"im{i}.png"
            img = np.clip(photo[i * 64:(i + 1) * 64, :64].astype(int) + 10 * k, 0, 255)
            Image.fromarray(img.astype(np.uint8)).save(p)
            rows.append({"image": f"im{i}", "method": method, "path": str(p), "height": 64,
                         "width": 64, "weights_sha256": None if method == "bicubic" else
                         f"{k}" * 64, "stand_in": "" if method == "bicubic" else
                         "tiny demo run"})
        pd.DataFrame(rows).to_parquet(sr_dir / "manifest.parquet")
        inputs["sr_manifests"].append(sr_dir / "manifest.parquet")
        errors = {("niqe", 1): "im1.png: too small"} if method == "srgan" else None
        note = "" if method == "bicubic" else "tiny demo run"
        df = score_rows(ds, method, vals, errors=errors, note=note)
        p = R / "scores" / ds / f"{method}.parquet"
        p.parent.mkdir(parents=True, exist_ok=True)
        df.to_parquet(p)
        inputs["scores"].append(p)
    for preset, base in (("srgan", 6.0), ("ranksrgan_niqe", 4.0)):
        d = R / "train" / preset
        d.mkdir(parents=True)
        v = pd.DataFrame([{"preset": preset, "iteration": it, "image": f"im{i}",
                           "psnr": 25 + 0.01 * it, "niqe": base - 0.02 * it,
                           "stand_in": "tiny demo run; random perceptual weights"}
                          for it in (0, 20, 40) for i in range(2)])
        v.to_parquet(d / "val.parquet")
        (d / "G.json").write_text(json.dumps({
            "preset": preset, "iterations": 40,
            "stand_in": "tiny demo run; random perceptual weights",
            "weights_sha256": "f" * 64}))
        inputs["train"].append(d / "G.json")
    if with_rank:
        d = R / "rankdata" / "niqe"
        d.mkdir(parents=True)
        idx = pd.DataFrame([{"image": f"im{i}", "dataset": ds, "x": x, "y": 0, "size": 32,
                             "method": m, "level": lv, "path": "", "score": s + 0.1 * x / 32,
                             "label": lv, "metric": "niqe", "split": "val" if i else "train"}
                            for i in range(2) for x in (0, 32)
                            for lv, (m, s) in enumerate([("srresnet", 6.0), ("srgan", 3.0),
                                                         ("esrgan", 2.8)], 1)])
        idx.to_parquet(d / "index.parquet")
        (d / "stats.json").write_text(json.dumps({"positions": 4}))
        inputs["rankdata"].append(d / "index.parquet")
        d = R / "ranker" / "niqe"
        d.mkdir(parents=True)
        ev = idx.assign(output=lambda t: -t["level"] + 0.05 * t["x"] / 32)
        ev[["image", "x", "y", "method", "label", "output"]].to_parquet(d / "eval.parquet")
        inputs["rankers"].append(d / "eval.parquet")
    return inputs


MAPPING = RunMapping(
    datasets={"PIRM-Test": "demo_test"},
    dataset_stand_ins={"PIRM-Test": "demo photos"},
    methods={"Bicubic": "bicubic", "SRGAN": "srgan", "RankSRGAN": "ranksrgan",
             "RankSRGAN-N": "ranksrgan", "RankSRGAN-R-D2": "ranksrgan"},
    rankers={"NIQE rank": "niqe", "VGG-12": "niqe", "RankSRGAN-R-D2": "niqe"},
    rankdata={"RankSRGAN-R-D2": "niqe"},
)


def build_small_report(root: Path, inputs: dict, out: Path) -> Path:
    """The report of ``make_run``'s inputs, as the CLI builds it from a config file."""
    from ranksrgan.report.build import ReportInputs, build_report
    from ranksrgan.report.cli import settings_from_config

    config = {
        "results_dir": str(root / "results"),
        "train": {"runtime": {"precision": "fp32"},
                  "presets": {"srgan": {"iterations": 40, "optim": {"betas": [0.9, 0.99]}},
                              "ranksrgan_niqe": {"extends": "srgan", "losses": {
                                  "rank": {"weight": 0.03}}}}},
        "methods": {"esrgan": {"kind": "network", "weights": "esrgan_w"}},
        "weights": {"esrgan_w": {"url": "https://x/ESRGAN_SRx4-ff704c30.pth"}},
        "report": {
            "datasets": {"PIRM-Test": {"dataset": "demo_test", "stand_in": "demo photos"}},
            "methods": MAPPING.methods, "rankers": MAPPING.rankers,
            "rankdata": MAPPING.rankdata,
            "curves": {"SRGAN": "srgan", "RankSRGAN": "ranksrgan_niqe"},
            "crops": {"dataset": "demo_test", "image": None, "size": 32},
        },
    }
    settings = settings_from_config(config, "config/test.yaml", str(PAPER))
    return build_report(PAPER, ReportInputs(**inputs), settings, out,
                        {"config sha256": "0" * 64})
