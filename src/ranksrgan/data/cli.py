"""``ranksrgan data download|prepare|demo-source``: thin wrappers with explicit arguments.

``ranksrgan data download`` is the one fetch command of the pipeline: every download rule
(archives, SR and VGG19 weights, the NRQM model) runs it, with the one cached-file policy
(:func:`ranksrgan.io.fetch.fetch_cached`: reuse when verified, else download, verify, pin).
"""

from __future__ import annotations

import argparse
import logging

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.cli_args import (
    int_at_least,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
)
from ranksrgan.io.integrity import Check
from ranksrgan.io.transport import BACKOFF_S, RETRIES, TIMEOUT_S

log = logging.getLogger(__name__)


def _sha256_arg(value: str) -> str | None:
    if value.lower() in ("none", "null", ""):
        return None
    if not 8 <= len(value) <= 64 or any(c not in "0123456789abcdef" for c in value):
        raise argparse.ArgumentTypeError(
            f"not a lower-case hex sha256 (or a prefix of >= 8 digits): {value!r}"
        )
    return value


def _split_arg(value: str) -> tuple[str, list[str]]:
    name, sep, photos = value.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected SPLIT=photo1,photo2,...; got {value!r}")
    return name, [p for p in photos.split(",") if p]


def _content_check(kind: str, out: str, sha256: str | None) -> tuple[Check | None, str]:
    """The ``--check`` function and the noun of its file (``auto``: from the file name)."""
    from ranksrgan.io.integrity import CHECKS, check_for_name, is_full_sha256

    if kind == "nrqm":
        from ranksrgan.metrics.models import check_nrqm_file

        return check_nrqm_file, "NRQM model"
    if kind == "auto":
        kind = check_for_name(out) or ""
        if not kind:
            if is_full_sha256(sha256):
                return None, "file"
            raise RankSRGANError(
                f"{out}: no content check for this file name: give --check "
                f"({', '.join([*CHECKS, 'nrqm'])}) or a full --sha256"
            )
    return CHECKS[kind]


def _download(args: argparse.Namespace) -> int:
    from ranksrgan.io.fetch import fetch_cached

    check, what = _content_check(args.check, args.out, args.sha256)
    fetch_cached(
        args.url, args.out, sha256=args.sha256, sha256_source="--sha256", size=args.size,
        check=check, what=what, name_prefix=args.name_prefix, lock=args.lock,
        retries=args.retries, backoff_s=args.backoff_s, timeout_s=args.timeout_s,
    )
    print(args.out)
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from ranksrgan.data.prepare import prepare_dataset
    from ranksrgan.io import ImagePolicy

    df = prepare_dataset(
        args.dataset, args.archive, args.type, args.member, args.images, args.out_dir,
        args.manifest, scale=args.scale,
        policy=ImagePolicy(alpha=args.alpha, min_size=args.min_size),
    )
    log.info("%s: manifest %s with %d images", args.dataset, args.manifest, len(df))
    return 0


def _demo_source(args: argparse.Namespace) -> int:
    from ranksrgan.data.demo import build_demo_archive

    splits = dict(args.split)
    if len(splits) != len(args.split):
        raise RankSRGANError("demo-source: a --split name is given twice")
    out = build_demo_archive(splits, args.out, max_side=args.max_side, min_side=args.min_side)
    log.info("demo archive written: %s", out)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` subcommand and its own subcommands."""
    p = subparsers.add_parser(
        "data", help="download (every fetched file), verify, extract and prepare image sets"
    )
    sub = p.add_subparsers(dest="data_command", metavar="COMMAND", required=True)

    d = sub.add_parser(
        "download",
        help="fetch one file (archive, weights, model): the verified cached file, else a "
        "download (mirrors, resume, retries), verified and pinned",
        description="The one fetch command. A file at --out is kept when its size, sha256 and "
        "(without a full --sha256) content check pass; otherwise it is downloaded into "
        "--out.part, checked the same way and renamed onto --out. Without a full --sha256 its "
        "hash is pinned in the lock file, and later runs verify against it.",
    )
    d.add_argument("--url", action="append", default=[],
                   help="http(s):// or file: URL; repeat for mirrors, tried in order (none: "
                   "only verify the file at --out)")
    d.add_argument("--out", required=True,
                   help="the file, e.g. CACHE/archives/NAME.zip, CACHE/weights/NAME.pth")
    d.add_argument("--sha256", type=_sha256_arg, default=None,
                   help="full hash or a prefix of >= 8 hex digits; 'none' = use/record the "
                   "lock file entry")
    d.add_argument("--name-prefix", action="store_true",
                   help="without --sha256, check the hash prefix the file name carries "
                   "(vgg19-dcbb9e9d.pth: the weights registry's convention)")
    d.add_argument(
        "--size", type=positive_int, default=None, help="expected size in bytes (checked)"
    )
    d.add_argument("--check", choices=["auto", "archive", "torch", "mat", "nrqm"],
                   default="auto",
                   help="content check of a file no full sha256 pins (auto: from the name)")
    d.add_argument("--lock", default=None, help="sha256 lock file (default: beside --out)")
    d.add_argument("--retries", type=nonnegative_int, default=RETRIES)
    d.add_argument("--backoff-s", type=nonnegative_float, default=BACKOFF_S)
    d.add_argument("--timeout-s", type=positive_float, default=TIMEOUT_S)
    d.set_defaults(func=_download)

    r = sub.add_parser("prepare", help="HR (mod-cropped) + LR PNGs and a manifest for a dataset")
    r.add_argument("--dataset", required=True)
    r.add_argument("--archive", required=True)
    r.add_argument("--type", required=True, choices=["zip", "tar", "tar.gz", "tgz"])
    r.add_argument("--member", action="append", required=True, help="glob; repeatable")
    r.add_argument("--images", type=positive_int, required=True, help="expected image count")
    r.add_argument("--out-dir", required=True, help="dataset folder (HR/, LR_x4/)")
    r.add_argument("--manifest", required=True)
    r.add_argument("--scale", type=positive_int, default=4)
    r.add_argument("--alpha", choices=["error", "drop", "white"], default="error")
    r.add_argument("--min-size", type=positive_int, default=1)
    r.set_defaults(func=_prepare)

    s = sub.add_parser(
        "demo-source", help="build the demo archive from photos shipped with installed packages"
    )
    s.add_argument("--out", required=True)
    s.add_argument("--split", type=_split_arg, action="append", required=True,
                   help="SPLIT=photo1,photo2 (file stems in scikit-image data, pyiqa's Kodak "
                   "references, matplotlib sample data); repeatable")
    s.add_argument("--max-side", type=int_at_least(64), default=512)
    s.add_argument("--min-side", type=int_at_least(16), default=256)
    s.set_defaults(func=_demo_source)
