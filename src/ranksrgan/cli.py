"""``ranksrgan`` command line: one subcommand per pipeline stage.

Each stage package ``ranksrgan.<stage>`` owns a ``cli`` module with
``register(subparsers)`` that adds its subcommand and sets ``func`` to a thin call into the
stage. Stages whose module is not present yet are simply not listed.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ranksrgan import __version__
from ranksrgan.errors import RankSRGANError

STAGES = ("data", "sr", "score", "train", "rankdata", "ranker", "report", "status")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available stage subcommand."""
    parser = argparse.ArgumentParser(
        prog="ranksrgan",
        description="RankSRGAN study pipeline: each subcommand runs one stage on explicit files.",
    )
    parser.add_argument("--version", action="version", version=f"ranksrgan {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="stage", metavar="STAGE")
    for stage in STAGES:
        try:
            module = importlib.import_module(f"ranksrgan.{stage}.cli")
        except ModuleNotFoundError as exc:
            if exc.name in (f"ranksrgan.{stage}", f"ranksrgan.{stage}.cli"):
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ranksrgan`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except RankSRGANError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        # A read-only or full results folder, a path through a file: one line naming the
        # file, not a traceback (the stage wrote atomically, so nothing partial is left).
        print(f"error: {_os_error_line(exc)}", file=sys.stderr)
        return 1


def _os_error_line(exc: OSError) -> str:
    name = exc.filename if exc.filename is not None else "?"
    reason = exc.strerror or str(exc)
    if exc.filename2 is not None:
        return f"{name} -> {exc.filename2}: {reason}"
    return f"{name}: {reason}"


if __name__ == "__main__":
    sys.exit(main())
