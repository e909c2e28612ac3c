"""``ranksrgan train``: train one preset (resumes from its last checkpoint).

Two ways to say what to train:

- ``--preset NAME --preset-json JSON`` (what the Snakemake rule passes): the RESOLVED preset
  (``extends`` merged) and the ``train.runtime`` values, taken from the run's in-memory config,
  so ``--config key=value`` overrides and several ``--configfile``s reach the job. Every path
  is then given explicitly (nothing is derived from a config file).
- ``--config FILE --preset NAME`` (by hand, outside Snakemake): the config file is read and
  validated; paths default to the pipeline layout under its ``results_dir``/``cache_dir``.

Training never downloads: the VGG19 file of a perceptual loss comes as ``--vgg19`` (or from
the cache where ``ranksrgan data download`` / ``snakemake prefetch`` put it).

Several GPUs (or CPU processes): ``torchrun --standalone --nproc-per-node N -m ranksrgan train
...`` (the rule does this for ``resources.train.gpus: N``); the preset's batch is the global
batch and rank 0 writes the outputs (``ranksrgan.fit.dist``).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.cli_args import positive_float

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    """Add the ``train`` subcommand (``train fetch-vgg19`` is a removed-command stub)."""
    p = subparsers.add_parser(
        "train",
        help="train one preset (SRResNet, SRGAN, ESRGAN, RankSRGAN...)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", help="pipeline config YAML (config/config.yaml), read by hand")
    p.add_argument("--preset", help="name under train.presets")
    p.add_argument(
        "--preset-json",
        help='resolved preset + runtime as JSON: {"preset": {...}, "runtime": {...}} '
        "(the Snakemake rule's form; replaces --config)",
    )
    p.add_argument("--out", help="output folder (default: RESULTS/train/PRESET)")
    p.add_argument("--init", help="generator weights to start from (default: the preset's init)")
    p.add_argument(
        "--ranker",
        action="append",
        help="Ranker weights of a rank-content term with ranker.source path/stage; once per "
        "such term, in the preset's order (several for a list of rank terms)",
    )
    p.add_argument(
        "--vgg19", help="torchvision VGG19 weights (default: the cached weights.vgg19 file)"
    )
    p.add_argument("--train-manifest", nargs="+", help="data manifests to sample patches from")
    p.add_argument("--val-manifest", help="validation manifest (full images)")
    p.add_argument("--cache-dir", help="decoded-patch cache folder (default: CACHE/train_patches)")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N (default: the config's device)")
    p.add_argument("--no-val", action="store_true", help="skip validation (PSNR/NIQE)")
    p.add_argument(
        "--dist-timeout-s",
        type=positive_float,
        default=None,
        help="under torchrun: seconds a rank waits for the others (a lost peer, rank 0's "
        "validation) before the run stops (default 1800)",
    )
    p.set_defaults(func=run)
    sub = p.add_subparsers(dest="train_command", metavar="COMMAND")
    from ranksrgan.io.fetch import register_removed_command

    register_removed_command(
        sub, "fetch-vgg19", "train fetch-vgg19",
        "its flags are the same; add --check torch --name-prefix",
    )


def _from_json(args: argparse.Namespace) -> tuple[dict, dict]:
    """(train section holding just this preset, resolved) from ``--preset-json``."""
    from ranksrgan.config import validate_train_section

    try:
        obj = json.loads(args.preset_json)
    except json.JSONDecodeError as exc:
        raise RankSRGANError(f"--preset-json: invalid JSON ({exc})") from None
    if not isinstance(obj, dict) or set(obj) != {"preset", "runtime"}:
        raise RankSRGANError('--preset-json: expected {"preset": {...}, "runtime": {...}}')
    presets = {args.preset: obj["preset"]}
    train = {"targets": [args.preset], "runtime": obj["runtime"], "presets": presets}
    validate_train_section(train, f"--preset-json (preset {args.preset})")
    if obj["preset"].get("extends") is not None:
        raise RankSRGANError(f"--preset-json: preset {args.preset} must be resolved (no extends)")
    return train, {}


def _vgg19_cached(config: dict, cache_dir: str) -> Path:
    """The VGG19 file of the config's ``weights.vgg19`` entry, verified; never downloaded."""
    from ranksrgan.weights import cached_path, verify_sha256

    entry = (config.get("weights") or {}).get("vgg19")
    if entry is None:
        raise RankSRGANError(
            "config key 'weights.vgg19' (missing key): needed by perceptual.weights: vgg19"
        )
    path = cached_path(entry, cache_dir)
    if not path.is_file():
        raise RankSRGANError(
            f"{path}: VGG19 weights not fetched (training never downloads): run "
            f"`ranksrgan data download --url {entry.get('url')} --out {path} --check torch "
            "--name-prefix` or `snakemake prefetch --configfile ...` first"
        )
    verify_sha256(path, entry.get("sha256"))
    return path


def _require(value: Any, flag: str, why: str) -> Any:
    if not value:
        raise RankSRGANError(f"{flag} is required with --preset-json ({why})")
    return value


def run(args: argparse.Namespace) -> int:
    """Resolve the preset and its paths, then train."""
    import torch

    from ranksrgan.fit.dist import process_group
    from ranksrgan.train.engine import Trainer, TrainPaths
    from ranksrgan.train.options import options_from_config

    if not args.preset:
        raise RankSRGANError("train: --preset is required")
    if bool(args.config) == bool(args.preset_json):
        raise RankSRGANError("train: give exactly one of --config FILE and --preset-json JSON")
    if args.preset_json:
        train, config = _from_json(args)
    else:
        from ranksrgan.config import load_config

        config = load_config(args.config)  # the packaged schema: never unvalidated
        if "train" not in config:
            raise RankSRGANError(f"{args.config}: config key 'train' (missing key)")
        train = config["train"]
    if not args.preset_json:
        # by hand: the stage Ranker's network from its section, as the workflow resolves it
        from ranksrgan.presets import resolve_preset, with_stage_ranker

        presets = dict(train.get("presets") or {})
        presets[args.preset] = with_stage_ranker(
            resolve_preset(presets, args.preset), config.get("ranker") or {}
        )
        train = {**train, "presets": presets}
    opts = options_from_config(train, args.preset)
    to_load = opts.losses.rankers_to_load()
    needs_vgg = bool(opts.losses.perceptual_weight) and opts.losses.perceptual_weights == "vgg19"
    if args.preset_json:
        # every path explicit: the job derives nothing from a results or cache folder
        out = _require(args.out, "--out", "the output folder")
        manifests = _require(args.train_manifest, "--train-manifest", "training data")
        cache_dir = _require(args.cache_dir, "--cache-dir", "the decoded-patch cache")
        init = _require(args.init, "--init", f"init: {opts.init}") if opts.init else None
        rankers = (
            _require(args.ranker, "--ranker", "a stage/path Ranker") if to_load else []
        )
        vgg = _require(args.vgg19, "--vgg19", "perceptual weights: vgg19") if needs_vgg else None
        val = args.val_manifest
        if opts.data.val and not val and not args.no_val:
            _require(val, "--val-manifest", f"data.val: {opts.data.val}")
    else:
        # the pipeline's own paths, from the one results layout (as the rules have them)
        from ranksrgan.layout import Layout

        lay = Layout.of(config)
        out = args.out or lay.train_dir(opts.name)
        manifests = args.train_manifest or [lay.data_manifest(d) for d in opts.data.train]
        cache_dir = args.cache_dir or lay.train_patch_cache()
        init = args.init or (lay.train_generator(opts.init) if opts.init else None)
        rankers = args.ranker or [
            str(spec.path) if spec.source == "path" else lay.ranker_model(str(spec.name))
            for spec in to_load
        ]
        vgg = args.vgg19 or (_vgg19_cached(config, config["cache_dir"]) if needs_vgg else None)
        val = args.val_manifest or (lay.data_manifest(opts.data.val) if opts.data.val else None)
    paths = TrainPaths(
        out_dir=Path(out),
        train_manifests=tuple(Path(m) for m in manifests),
        val_manifest=Path(val) if val else None,
        init=Path(init) if init else None,
        rankers=tuple(Path(r) for r in rankers or ()),
        vgg19=Path(vgg) if vgg else None,
        cache_dir=Path(cache_dir),
    )
    with process_group(args.device or config.get("device", "auto"), args.dist_timeout_s) as pg:
        device = pg.device
        if device.type == "cpu":
            torch.set_num_threads(max(1, torch.get_num_threads()))
        trainer = Trainer(opts, paths, device, dist=pg)
        validator = None
        if paths.val_manifest is not None and not args.no_val and pg.is_main:
            from ranksrgan.train.validate import Validator, load_val_set

            validator = Validator(load_val_set(paths.val_manifest, opts.data.val_images), device)
        g = trainer.run(validator)
    if g is not None:
        log.info(
            "preset %s: wrote %s (%d iterations%s%s)",
            opts.name,
            g,
            trainer.iteration,
            f", {pg.world_size} processes" if pg.active else "",
            f"; STAND-IN: {', '.join(trainer.labels)}" if trainer.labels else "",
        )
    return 0
