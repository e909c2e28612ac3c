"""The train stage's inputs: a real-photo dataset in the data stage's layout, a tiny GAN preset
and a valid pipeline config holding it (the trainers' tests, the config-reaches-jobs test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import skimage.data
import yaml

from ranksrgan.imresize import imresize
from ranksrgan.io import write_png
from tests.support import REPO

PHOTOS = ("astronaut", "coffee", "chelsea")


def make_dataset(root: Path, name: str, photos=PHOTOS, max_side: int = 256) -> Path:
    """A real-photo dataset in the data stage's layout (mod-cropped HR, MATLAB-bicubic LR)."""
    rows = []
    for stem in photos:
        img = getattr(skimage.data, stem)()
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        img = img[:max_side, :max_side, :3]
        h, w = img.shape[0] // 4 * 4, img.shape[1] // 4 * 4
        hr = np.ascontiguousarray(img[:h, :w])
        lr = imresize(hr, 0.25)
        hp, lp = (
            root / "data" / name / "HR" / f"{stem}.png",
            root / "data" / name / "LR_x4" / f"{stem}.png",
        )
        write_png(hp, hr)
        write_png(lp, lr)
        rows.append(
            {"image": stem, "hr_path": str(hp), "lr_path": str(lp), "height": h, "width": w}
        )
    out = root / "data" / name / "manifest.parquet"
    pd.DataFrame(rows).to_parquet(out, index=False)
    return out



TINY_GAN = {
    "description": "tiny RankSRGAN-like preset: every generator term plus a D step",
    "labels": ["test run"],
    "generator": {"arch": "srresnet", "options": {"nf": 8, "nb": 1}},
    "discriminator": {"arch": "discriminator_vgg128", "options": {"nf": 4}},
    "init": None,
    "iterations": 36,
    "seed": 3,
    "data": {
        "train": ["tr"],
        "val": "va",
        "val_images": 1,
        "hr_patch": 128,
        "batch_size": 2,
        "flip": True,
        "rotate": True,
        "lr_source": "manifest",
    },
    "optim": {"lr_g": 1e-3, "lr_d": 1e-3, "betas": [0.9, 0.99]},
    "scheduler": {"milestones": [10, 20], "gamma": 0.5},
    "losses": {
        "pixel": {"weight": 1.0e-2, "criterion": "l1"},
        "mse": {"weight": 1.0},
        "perceptual": {"weight": 1.0, "layer": "conv2_2", "criterion": "l1", "weights": "random"},
        "gan": {"weight": 5.0e-3, "kind": "vanilla"},
        "rank": {
            "weight": 3.0e-2,
            "bias": 0.0,
            "bn_mode": "batch",
            "ranker": {"source": "random", "arch": "ranker_vgg8", "options": {"nf": 4}, "seed": 1},
        },
    },
    "checkpoint_every": 6,
    "val_every": 12,
    "log_every": 1,
}


def write_config(root: Path, presets: dict) -> Path:
    """A valid pipeline config (the demo's global sections) with our own train section."""
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["results_dir"] = str(root)
    cfg["cache_dir"] = str(root / "cache")
    cfg["train"] = {
        "targets": list(presets),
        "runtime": {"precision": "fp32", "channels_last": False, "compile": False, "workers": 0},
        # the demo's presets stay: other sections (methods.*.train_preset) refer to them
        "presets": {**cfg["train"]["presets"], **presets},
    }
    for preset in presets.values():  # the test's own datasets, declared like the demo's
        data = preset.get("data", {})
        for ds in [*data.get("train", []), *([data["val"]] if data.get("val") else [])]:
            cfg["datasets"].setdefault(ds, {**cfg["datasets"]["demo_train"], "images": 1})
    root.mkdir(parents=True, exist_ok=True)
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path
