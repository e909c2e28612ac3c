"""``ranksrgan status``: per stage, which targets of a config are done, pulled, or pending.

``--targets STAGE`` prints only that stage's target paths, one per line: dvc.yaml's stage
commands hand them to Snakemake.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from ranksrgan.errors import RankSRGANError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``status`` subcommand."""
    p = subparsers.add_parser(
        "status",
        help="which stages of a config are done, pulled from DVC, or pending",
        description="Per stage: targets done (computed here), pulled (identical to dvc.lock's "
        "version) or pending (missing; marked when dvc pull can restore them).",
    )
    p.add_argument("--config", required=True, help="config file (e.g. config/demo.yaml)")
    p.add_argument("--root", default=".",
                   help="checkout holding dvc.lock and .dvc/; relative results paths resolve "
                   "against it (default: .)")
    p.add_argument("--brief", action="store_true", help="counts per stage only")
    p.add_argument("--json", action="store_true", help="one JSON object per target")
    p.add_argument("--targets", metavar="STAGE",
                   help="print only this stage's target paths, one per line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the status (or a stage's targets); exit 0."""
    from ranksrgan.config import load_config, schema_file
    from ranksrgan.status import STAGES, format_status, stage_targets, target_states

    config = load_config(args.config, schema_file())
    if args.targets:
        if args.targets not in STAGES:
            raise RankSRGANError(
                f"--targets {args.targets}: unknown stage (known: {', '.join(STAGES)})"
            )
        for target in stage_targets(config)[args.targets]:
            print(target)
        return 0
    states = target_states(config, args.root)
    if args.json:
        for s in states:
            print(json.dumps(asdict(s)))
    else:
        print(format_status(states, verbose=not args.brief))
    return 0
