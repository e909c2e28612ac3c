"""``ranksrgan sr run|gather``: thin wrappers with explicit arguments.

Weights are fetched by the one fetch command, ``ranksrgan data download`` (``sr fetch-weights``
was removed: calling it is a one-line migration error).
"""

from __future__ import annotations

import argparse
import json
import logging

from ranksrgan.io.cli_args import nonnegative_int, or_word, positive_int

log = logging.getLogger(__name__)


def _none_or(value: str) -> str | None:
    return None if value.lower() in ("none", "null", "") else value


def _json_object(value: str) -> dict:
    try:
        obj = json.loads(value)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {value!r} ({exc})") from None
    if not isinstance(obj, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {value!r}")
    return obj


def _run(args: argparse.Namespace) -> int:
    from ranksrgan.sr.inference import InferenceOptions
    from ranksrgan.sr.shard import MethodSpec, Upscaler, run_shard

    spec = MethodSpec(
        name=args.method,
        kind=args.kind,
        arch=args.arch,
        arch_options=args.arch_options,
        weights=args.weights,
        weights_sha256=args.weights_sha256,
        layout=args.layout,
        param_key=args.param_key,
        stand_in=args.stand_in,
    )
    opts = InferenceOptions(
        precision=args.precision,
        channels_last=args.channels_last,
        tile=args.tile,
        tile_pad=args.tile_pad,
    )
    up = Upscaler(spec, device=args.device, opts=opts, scale=args.scale)
    df = run_shard(
        args.manifest,
        args.shard,
        args.shard_size,
        args.out_dir,
        args.shard_out,
        up,
        progress=not args.no_progress,
    )
    log.info(
        "%s shard %d: %d images on %s (%s), %.3f s total",
        args.method,
        args.shard,
        len(df),
        up.device,
        up.precision,
        df["runtime_s"].sum(),
    )
    return 0


def _gather(args: argparse.Namespace) -> int:
    from ranksrgan.sr.gather import gather_shards

    df = gather_shards(args.shard, args.out, expected_images=args.images)
    log.info("%s: %d images", args.out, len(df))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ranksrgan sr`` and its subcommands."""
    p = subparsers.add_parser(
        "sr", help="super-resolve datasets (one shard per call), gather shards"
    )
    sub = p.add_subparsers(dest="sr_command", metavar="COMMAND", required=True)

    r = sub.add_parser("run", help="super-resolve one shard of a dataset with one method")
    r.add_argument(
        "--manifest", required=True, help="data manifest (R/data/{dataset}/manifest.parquet)"
    )
    r.add_argument("--method", required=True, help="method name (recorded in the manifest)")
    r.add_argument("--kind", choices=["bicubic", "network"], default="network")
    r.add_argument("--arch", help="network name in ranksrgan.archs")
    r.add_argument(
        "--arch-options", type=_json_object, default={}, help="JSON object of arch options"
    )
    r.add_argument("--weights", help="local weights file (.pth state dict)")
    r.add_argument(
        "--weights-sha256",
        type=_none_or,
        default=None,
        help="expected sha256 (or prefix); none = check the file-name prefix if any",
    )
    r.add_argument(
        "--layout", default="auto", help="key layout: auto, authors, esrgan_original, basicsr"
    )
    r.add_argument("--param-key", default="auto", help="nesting key: auto, params_ema, params, ...")
    r.add_argument(
        "--stand-in",
        type=_none_or,
        default=None,
        help="stand-in note of the weights: why their outputs are stand-ins (default: the "
        "stand_in of the G.json beside the weights)",
    )
    r.add_argument("--shard", type=nonnegative_int, required=True)
    r.add_argument("--shard-size", type=positive_int, required=True)
    r.add_argument("--out-dir", required=True, help="folder of the PNGs (R/sr/{method}/{dataset})")
    r.add_argument("--shard-out", required=True, help="shard manifest to write (.parquet)")
    r.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    r.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    r.add_argument("--channels-last", action="store_true")
    r.add_argument("--tile", type=nonnegative_int, default=0, help="LR tile side (0 = whole image)")
    r.add_argument(
        "--tile-pad",
        type=or_word(nonnegative_int, "auto"),
        default=None,
        help="LR context per tile side (auto = the network's receptive field)",
    )
    r.add_argument("--scale", type=positive_int, default=4)
    r.add_argument("--no-progress", action="store_true")
    r.set_defaults(func=_run)

    g = sub.add_parser("gather", help="concatenate shard manifests")
    g.add_argument(
        "--shard", action="append", required=True, help="shard manifest (repeat, in order)"
    )
    g.add_argument("--out", required=True)
    g.add_argument("--images", type=positive_int, default=None, help="expected total image count")
    g.set_defaults(func=_gather)

    from ranksrgan.io.fetch import register_removed_command

    register_removed_command(
        sub, "fetch-weights", "sr fetch-weights",
        "--cache-dir C becomes --out C/weights/<file name of the URL>; add --check torch "
        "--name-prefix; a local --path needs no fetch",
    )
