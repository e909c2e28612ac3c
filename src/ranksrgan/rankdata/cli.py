"""``ranksrgan rankdata``: one shard of positions + labels, gather, export."""

from __future__ import annotations

import argparse

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.cli_args import fraction, nonnegative_float, nonnegative_int, positive_int


def _off_or(kind):
    """argparse type: a number, or ``off`` (the rule is switched off) -> None."""

    def parse(text: str):
        if text.lower() in ("off", "none", "null"):
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number or 'off', got {text!r}") from None

    return parse


def _image_group(text: str) -> list[str]:
    """argparse type of ``--group``: comma-separated image names, none empty, two or more."""
    names = [n.strip() for n in text.split(",")]
    if len(names) < 2 or not all(names):
        raise argparse.ArgumentTypeError(
            f"expected two or more comma-separated image names, got {text!r}"
        )
    return names


def _levels(specs: list[str]):
    from ranksrgan.rankdata.shard import HR, Level

    levels = []
    for spec in specs:
        method, sep, manifest = spec.partition("=")
        if not method:
            raise RankSRGANError(f"--level {spec!r}: expected METHOD=SR_MANIFEST or HR")
        if method == HR:
            if manifest:
                raise RankSRGANError("--level HR takes no manifest (it is the data manifest's HR)")
            levels.append(Level(HR, None))
        else:
            if not sep or not manifest:
                raise RankSRGANError(f"--level {spec!r}: method {method} needs =SR_MANIFEST")
            levels.append(Level(method, manifest))
    return levels


def _shard(args: argparse.Namespace) -> int:
    from ranksrgan.io import ImagePolicy
    from ranksrgan.rankdata.labels import label_metric
    from ranksrgan.rankdata.selection import gap_metric
    from ranksrgan.rankdata.shard import Selection, run_shard

    if (args.shard is None) != (args.shard_size is None):
        raise RankSRGANError("--shard and --shard-size go together")
    sel = Selection(
        size=args.size,
        stride=args.stride,
        grid=args.grid,
        sharpness_min=args.sharpness_min,
        sharpness_block=args.sharpness_block,
        gap_min=args.niqe_gap_min,
        max_per_image=args.max_per_image,
        seed=args.seed,
    )
    label = label_metric(args.metric, args.device, args.nrqm_model)
    gap = gap_metric(args.device) if sel.gap_min is not None else None
    df, images = run_shard(
        args.dataset,
        args.data_manifest,
        _levels(args.level),
        sel,
        label,
        gap,
        args.out,
        shard=args.shard,
        shard_size=args.shard_size or 1,
        batch=args.batch,
        device=label.device,
        policy=ImagePolicy(alpha=args.alpha, min_size=1),
    )
    print(
        f"{args.out}: {len(images)} images, {int(images['n_kept'].sum())} positions, "
        f"{len(df)} patch rows"
    )
    return 0


def _gather(args: argparse.Namespace) -> int:
    from ranksrgan.rankdata.gather import gather

    index, stats = gather(
        args.shard,
        args.out,
        args.stats,
        args.images,
        args.split,
        args.val_fraction,
        args.seed,
        groups=args.group or [],
    )
    print(
        f"{args.out}: {stats['rows']} rows, {stats['positions']} positions of "
        f"{stats['images']['with_patches']} images ({stats['split']['positions']})"
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    from ranksrgan.io import ImagePolicy
    from ranksrgan.rankdata.export import export

    counts = export(args.index, args.out, args.prefix, ImagePolicy(alpha=args.alpha))
    print(f"{args.out}: {counts['files']} patch files, {counts['bytes']} bytes")
    return 0


def register(subparsers) -> None:
    """Add the ``rankdata`` subcommand and its sub-subcommands."""
    p = subparsers.add_parser("rankdata", help="rank dataset: patch positions, selection, labels")
    sub = p.add_subparsers(dest="rankdata_cmd", metavar="CMD", required=True)

    s = sub.add_parser("shard", help="select and label the patches of one shard of a dataset")
    s.add_argument("--dataset", required=True)
    s.add_argument("--data-manifest", required=True, help="R/data/{dataset}/manifest.parquet")
    s.add_argument(
        "--level",
        action="append",
        required=True,
        metavar="METHOD=SR_MANIFEST",
        help="one per method, lowest level first; HR (no manifest) = the data stage's HR image",
    )
    s.add_argument("--metric", choices=["niqe", "ma", "pi"], default="niqe")
    s.add_argument("--nrqm-model", help="NRQM_model.mat (ma / pi labels)")
    s.add_argument("--size", type=positive_int, default=296)
    s.add_argument("--stride", type=positive_int, default=148)
    s.add_argument("--grid", choices=["script", "full"], default="script")
    s.add_argument(
        "--sharpness-min", type=_off_or(nonnegative_float), default=40.0, help="number | off"
    )
    s.add_argument("--sharpness-block", type=positive_int, default=96)
    s.add_argument(
        "--niqe-gap-min", type=_off_or(nonnegative_float), default=0.1, help="number | off"
    )
    s.add_argument("--max-per-image", type=_off_or(positive_int), default=200, help="number | off")
    s.add_argument("--seed", type=nonnegative_int, default=0)
    s.add_argument(
        "--shard", type=nonnegative_int, help="0-based shard index (default: all images)"
    )
    s.add_argument("--shard-size", type=positive_int)
    s.add_argument("--batch", type=positive_int, default=64, help="patches per metric call")
    s.add_argument("--alpha", choices=["error", "drop", "white"], default="error")
    s.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    s.add_argument("--out", required=True, help="shard rows; the image table goes beside it")
    s.set_defaults(func=_shard)

    g = sub.add_parser("gather", help="join shards into index.parquet, images.parquet, stats")
    g.add_argument("--shard", action="append", required=True, help="a shard file (repeat)")
    g.add_argument("--split", choices=["image", "patch"], default="image")
    g.add_argument("--val-fraction", type=fraction, default=0.1)
    g.add_argument("--seed", type=nonnegative_int, default=0)
    g.add_argument(
        "--group",
        action="append",
        type=_image_group,
        metavar="IMAGE,IMAGE[,...]",
        help="images that always share a split (near-duplicates; --split image only; repeat "
        "per group; a name that is no source image is an error)",
    )
    g.add_argument("--out", required=True, help="R/rankdata/{name}/index.parquet")
    g.add_argument("--images", required=True, help="R/rankdata/{name}/images.parquet")
    g.add_argument("--stats", required=True, help="R/rankdata/{name}/stats.json")
    g.set_defaults(func=_gather)

    e = sub.add_parser("export", help="write the authors' patch folders + label files")
    e.add_argument("--index", required=True)
    e.add_argument("--out", required=True, help="a new folder")
    e.add_argument("--prefix", default="DF2K")
    e.add_argument("--alpha", choices=["error", "drop", "white"], default="error")
    e.set_defaults(func=_export)
