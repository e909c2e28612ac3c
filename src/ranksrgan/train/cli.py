"""``ranksrgan train``: train one preset of the config (resumes from its last checkpoint).

Paths default to the pipeline layout under the config's ``results_dir``; the Snakemake rules
pass them explicitly.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import yaml

from ranksrgan.errors import RankSRGANError

log = logging.getLogger(__name__)
SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"


def register(subparsers) -> None:
    """Add the ``train`` subcommand."""
    p = subparsers.add_parser(
        "train",
        help="train one preset (SRResNet, SRGAN, ESRGAN, RankSRGAN...)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", required=True, help="pipeline config YAML (config/config.yaml)")
    p.add_argument("--preset", required=True, help="name under train.presets")
    p.add_argument("--out", help="output folder (default: RESULTS/train/PRESET)")
    p.add_argument("--init", help="generator weights to start from (default: the preset's init)")
    p.add_argument("--ranker", help="Ranker weights (presets with ranker.source path/stage)")
    p.add_argument("--vgg19", help="torchvision VGG19 weights (default: fetched via weights.vgg19)")
    p.add_argument("--train-manifest", nargs="+", help="data manifests to sample patches from")
    p.add_argument("--val-manifest", help="validation manifest (full images)")
    p.add_argument("--cache-dir", help="decoded-patch cache folder (default: CACHE/train_patches)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: the config's device")
    p.add_argument("--no-val", action="store_true", help="skip validation (PSNR/NIQE)")
    p.set_defaults(func=run)


def _load_config(path: str) -> dict:
    from ranksrgan.config import load_config

    if SCHEMA.is_file():
        return load_config(path, SCHEMA)
    p = Path(path)
    if not p.is_file():
        raise RankSRGANError(f"{p}: config file not found")
    return yaml.safe_load(p.read_text()) or {}


def _vgg19_path(config: dict, cache_dir: str) -> Path:
    entry = (config.get("weights") or {}).get("vgg19")
    if entry is None:
        raise RankSRGANError(
            "config key 'weights.vgg19' (missing key): needed by perceptual.weights: vgg19"
        )
    from ranksrgan.weights import fetch

    return Path(fetch(entry, cache_dir))


def run(args: argparse.Namespace) -> int:
    """Resolve the preset and its paths, then train."""
    import torch

    from ranksrgan.train.engine import Trainer, TrainPaths
    from ranksrgan.train.presets import options_from_config
    from ranksrgan.training import pick_device

    config = _load_config(args.config)
    if "train" not in config:
        raise RankSRGANError(f"{args.config}: config key 'train' (missing key)")
    opts = options_from_config(config["train"], args.preset)
    results, cache = Path(config["results_dir"]), config["cache_dir"]

    def manifest(ds: str) -> Path:
        return results / "data" / ds / "manifest.parquet"

    init = args.init or (str(results / "train" / opts.init / "G.pth") if opts.init else None)
    ranker = args.ranker
    spec = opts.losses.ranker
    if ranker is None and spec is not None and spec.source == "path":
        ranker = spec.path
    if ranker is None and spec is not None and spec.source == "stage":
        ranker = str(results / "ranker" / str(spec.name) / "model.pth")
    vgg = args.vgg19
    if vgg is None and opts.losses.perceptual_weight and opts.losses.perceptual_weights == "vgg19":
        vgg = _vgg19_path(config, cache)
    val = args.val_manifest or (str(manifest(opts.data.val)) if opts.data.val else None)
    paths = TrainPaths(
        out_dir=Path(args.out or results / "train" / opts.name),
        train_manifests=tuple(
            Path(m) for m in (args.train_manifest or [manifest(d) for d in opts.data.train])
        ),
        val_manifest=Path(val) if val else None,
        init=Path(init) if init else None,
        ranker=Path(ranker) if ranker else None,
        vgg19=Path(vgg) if vgg else None,
        cache_dir=Path(args.cache_dir or Path(cache) / "train_patches"),
    )
    device = pick_device(args.device or config.get("device", "auto"))
    if device.type == "cpu":
        torch.set_num_threads(max(1, torch.get_num_threads()))
    trainer = Trainer(opts, paths, device)
    validator = None
    if paths.val_manifest is not None and not args.no_val:
        from ranksrgan.train.validate import Validator, load_val_set

        validator = Validator(load_val_set(paths.val_manifest, opts.data.val_images), device)
    g = trainer.run(validator)
    log.info(
        "preset %s: wrote %s (%d iterations%s)",
        opts.name,
        g,
        trainer.iteration,
        f"; STAND-IN: {', '.join(trainer.labels)}" if trainer.labels else "",
    )
    return 0
