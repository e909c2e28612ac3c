"""``ranksrgan ranker train``: train one Ranker on a rank index, evaluate it, print its SROCC.

Every value comes as an argument (the Snakemake rule passes the config's ``ranker.<name>``
section explicitly); unset optimiser values come from the named schedule (``code`` or
``paper``, see ``ranksrgan.ranker.options``). Reruns resume from OUT/checkpoint/.

Several GPUs (or CPU processes): ``torchrun --standalone --nproc-per-node N -m ranksrgan ranker
train ... --bn-replicas N`` (the rule does this for ``resources.ranker.gpus: N``); the batch is
the global batch and rank 0 writes the outputs (``ranksrgan.fit.dist``).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.cli_args import (
    int_at_least,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
)
from ranksrgan.ranker.options import SCHEDULES, RankerOptions

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    """Add the ``ranker`` subcommand (``ranker train``)."""
    p = subparsers.add_parser(
        "ranker",
        help="train a Ranker on a rank index (the paper's stage 2)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="ranker_cmd", metavar="CMD", required=True)
    t = sub.add_parser("train", help="train, export model.pth + model.json, evaluate")
    t.add_argument("--index", required=True, help="rank index (R/rankdata/NAME/index.parquet)")
    t.add_argument("--out", required=True, help="output folder (R/ranker/NAME)")
    t.add_argument("--name", help="Ranker name (default: the output folder's name)")
    t.add_argument("--cache-dir", help="decoded-image cache folder (default: OUT/cache)")
    t.add_argument("--arch", help="ranker_vgg8 | ranker_vgg12 | ranker_vgg16")
    t.add_argument("--arch-options", default="{}", help="JSON, e.g. '{\"nf\": 64}'")
    t.add_argument("--loss", choices=["margin", "regression", "fidelity"])
    t.add_argument("--margin", type=nonnegative_float)
    t.add_argument("--clamp", type=positive_float, help="margin loss: output clamp")
    t.add_argument("--schedule", choices=sorted(SCHEDULES))
    t.add_argument("--lr", type=positive_float)
    t.add_argument("--weight-decay", type=nonnegative_float)
    t.add_argument("--batch-size", type=positive_int)
    t.add_argument("--milestones", type=positive_int, nargs="*")
    t.add_argument("--gamma", type=positive_float)
    t.add_argument("--iterations", type=positive_int)
    # 32: the Rankers halve the size five times (the schema's minimum, engine.MIN_PATCH)
    t.add_argument(
        "--patch", type=int_at_least(32), help="crop side (default: the index's patch size)"
    )
    t.add_argument("--augment", action="store_true", help="random crops + flips")
    t.add_argument("--seed", type=nonnegative_int)
    t.add_argument("--checkpoint-every", type=positive_int)
    t.add_argument("--log-every", type=positive_int)
    t.add_argument("--precision", choices=["bf16", "fp32"], help="CUDA only")
    t.add_argument("--channels-last", action=argparse.BooleanOptionalAction)
    t.add_argument("--workers", type=nonnegative_int)
    t.add_argument("--label", action="append", default=[], help="stand-in label (repeatable)")
    t.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    t.add_argument(
        "--bn-replicas",
        type=positive_int,
        default=1,
        help="BatchNorm replicas of the batch (N = N-GPU DataParallel; a multiple of the "
        "number of torchrun processes)",
    )
    t.add_argument(
        "--dist-timeout-s",
        type=positive_float,
        default=None,
        help="under torchrun: seconds a rank waits for the others before the run stops "
        "(default 1800)",
    )
    t.set_defaults(func=run_train)


def options_from_args(args: argparse.Namespace) -> RankerOptions:
    """The run's :class:`RankerOptions` from parsed arguments."""
    try:
        arch_options = json.loads(args.arch_options)
    except json.JSONDecodeError as exc:
        raise RankSRGANError(f"--arch-options: invalid JSON ({exc})") from None
    if not isinstance(arch_options, dict):
        raise RankSRGANError("--arch-options: expected a JSON object")
    given = {
        "arch": args.arch,
        "loss": args.loss,
        "margin": args.margin,
        "clamp": args.clamp,
        "schedule": args.schedule,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "batch_size": args.batch_size,
        "milestones": tuple(args.milestones) if args.milestones is not None else None,
        "gamma": args.gamma,
        "iterations": args.iterations,
        "patch": args.patch,
        "seed": args.seed,
        "checkpoint_every": args.checkpoint_every,
        "log_every": args.log_every,
        "precision": args.precision,
        "channels_last": args.channels_last,
        "workers": args.workers,
    }
    # a flag not given takes RankerOptions' default (the one statement of the defaults)
    return RankerOptions(
        name=args.name or Path(args.out).name,
        arch_options=arch_options,
        augment=args.augment,
        labels=tuple(args.label),
        **{k: v for k, v in given.items() if v is not None},
    )


def run_train(args: argparse.Namespace) -> int:
    """Train, export, evaluate; print the validation SROCC."""
    from ranksrgan.fit.dist import process_group
    from ranksrgan.ranker.engine import RankerPaths, RankerTrainer

    opts = options_from_args(args)
    paths = RankerPaths(
        index=Path(args.index),
        out_dir=Path(args.out),
        cache_dir=Path(args.cache_dir) if args.cache_dir else None,
    )
    with process_group(args.device, args.dist_timeout_s) as pg:
        trainer = RankerTrainer(opts, paths, pg.device, dist=pg, bn_replicas=args.bn_replicas)
        s = trainer.run()
    if not pg.is_main:
        return 0
    fmt = lambda v: "n/a" if v is None or v != v else f"{v:.4f}"  # noqa: E731
    print(
        f"ranker {opts.name}: validation SROCC {fmt(s['srocc'])} (KROCC {fmt(s['krocc'])}, "
        f"PLCC {fmt(s['plcc'])}, pair accuracy {fmt(s['pair_accuracy'])}; "
        f"{s['n_patches']} patches, {trainer.iteration} iterations)"
        + (f"; STAND-IN: {', '.join(trainer.labels)}" if trainer.labels else "")
    )
    return 0
