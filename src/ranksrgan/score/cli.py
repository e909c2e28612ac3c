"""``ranksrgan score``: score images, gather shards, fetch or build the NRQM model file."""

from __future__ import annotations

import argparse

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.cli_args import nonnegative_int, positive_int


def _metric_options(name: str, args: argparse.Namespace) -> dict:
    opts = {"colour": args.colour, "shave": args.shave, "quantize": not args.no_quantize}
    if name in ("ma", "nrqm", "pi"):
        if not args.nrqm_model:
            raise RankSRGANError(f"metric {name} needs --nrqm-model (path of NRQM_model.mat)")
        opts["model_path"] = args.nrqm_model
    return opts


def _run(args: argparse.Namespace) -> int:
    from ranksrgan.io import ImagePolicy
    from ranksrgan.io.device import pick_device
    from ranksrgan.metrics import OWN_METRICS, create_metric
    from ranksrgan.score.shard import is_out_of_memory, score_shard, shard_items

    if (args.shard is None) != (args.shard_size is None):
        raise RankSRGANError("--shard and --shard-size go together")
    pick_device(args.device)  # one line for cuda on a host without CUDA, before any read
    items = shard_items(
        args.data_manifest, args.sr_manifest, args.method, args.shard, args.shard_size or 1
    )
    metrics = [
        create_metric(
            n, args.device, **(_metric_options(n, args) if n in OWN_METRICS or n == "nrqm" else {})
        )
        for n in args.metrics
    ]
    policy = ImagePolicy(alpha=args.alpha, min_size=1)
    try:
        df = score_shard(args.dataset, args.method, items, metrics, args.out, policy)
    except RuntimeError as exc:
        if not is_out_of_memory(exc):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RankSRGANError(
            f"{args.out}: out of device memory while scoring ({first}); images already scored "
            "are kept in the partial file, rerun the job when the device has room"
        ) from None
    n_err = int((df["error"] != "").sum())
    print(
        f"{args.out}: {df['image'].nunique()} images x {len(metrics)} metrics, {n_err} error rows"
    )
    return 0


def _gather(args: argparse.Namespace) -> int:
    from ranksrgan.score.gather import gather

    df = gather(args.shards, args.out)
    print(f"{args.out}: {len(df)} rows")
    return 0


def _synthetic(args: argparse.Namespace) -> int:
    from ranksrgan.metrics.synthetic import write_synthetic_nrqm

    write_synthetic_nrqm(args.out, seed=args.seed, n_trees=args.trees)
    print(f"{args.out}: SYNTHETIC NRQM stand-in written (seed {args.seed}, {args.trees} trees)")
    return 0


def register(subparsers) -> None:
    """Add the ``score`` subcommand and its sub-subcommands."""
    p = subparsers.add_parser(
        "score", help="perceptual and distortion (PSNR/SSIM) scores of SR outputs"
    )
    sub = p.add_subparsers(dest="score_cmd", metavar="CMD", required=True)

    r = sub.add_parser("run", help="score a dataset x method (one shard, or all images)")
    r.add_argument("--dataset", required=True)
    r.add_argument("--method", required=True, help="SR method, or HR for the HR images")
    r.add_argument("--data-manifest", required=True, help="R/data/{dataset}/manifest.parquet")
    r.add_argument("--sr-manifest", help="R/sr/{method}/{dataset}/manifest.parquet (not for HR)")
    r.add_argument(
        "--shard", type=nonnegative_int, help="0-based shard index (default: all images)"
    )
    r.add_argument("--shard-size", type=positive_int)
    r.add_argument("--metrics", nargs="+", default=["niqe", "ma", "pi", "psnr", "ssim"])
    r.add_argument("--colour", choices=["y", "gray"], default="y")
    r.add_argument("--shave", type=nonnegative_int, default=4)
    r.add_argument("--no-quantize", action="store_true", help="skip MATLAB's uint8 rounding of Y")
    r.add_argument("--nrqm-model", help="NRQM_model.mat for ma/pi")
    r.add_argument("--alpha", choices=["error", "drop", "white"], default="error")
    r.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    r.add_argument("--out", required=True)
    r.set_defaults(func=_run)

    g = sub.add_parser("gather", help="join shard files")
    g.add_argument("--out", required=True)
    g.add_argument("shards", nargs="+")
    g.set_defaults(func=_gather)

    from ranksrgan.io.fetch import register_removed_command

    # the one fetch command verifies the real model too (and refuses the synthetic one)
    register_removed_command(
        sub, "nrqm-model", "score nrqm-model", "--path P --url U -> --out P --url U --check nrqm"
    )

    s = sub.add_parser("synthetic-nrqm", help="write a SYNTHETIC NRQM stand-in (tests/demo only)")
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=nonnegative_int, default=0)
    s.add_argument("--trees", type=positive_int, default=2000)
    s.set_defaults(func=_synthetic)
