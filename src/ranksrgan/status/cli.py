"""``ranksrgan status``: per stage, which targets of a config are done, pulled, stale, ...

``--targets STAGE`` prints only that stage's target paths, one per line. With
``--run-snakemake ARGS...`` it instead runs ``snakemake <targets> ARGS...``, each target one
argv element: dvc.yaml's stage commands use it, so that a results_dir with a space (or any
other shell character) stays one path; a shell ``$(...)`` would split it.

``--check-remote`` and ``--verify [STAGE ...]`` are ``make pull``'s checks before and after
``dvc pull`` (:mod:`ranksrgan.status.pull`).

``--tables`` prints, per paper-table target (``snakemake tableN``), its jobs, the jobs still
to run and the GPU-hours its rules declare (:mod:`ranksrgan.plan_cost`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict

from ranksrgan.errors import RankSRGANError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``status`` subcommand."""
    p = subparsers.add_parser(
        "status",
        help="which stages of a config are done, pulled from DVC, stale, or pending",
        description="Per stage: targets done (Snakemake plans nothing for them), pulled "
        "(identical to dvc.lock's version), pending (missing; marked when dvc pull can "
        "restore them), stale (Snakemake would rerun them), modified (differ from dvc.lock), "
        "broken (empty or truncated), present (exists; Snakemake not asked).",
    )
    p.add_argument("--config", required=True, help="config file (e.g. config/demo.yaml)")
    p.add_argument("--root", default=".",
                   help="checkout holding dvc.lock and .dvc/; relative results paths resolve "
                   "against it (default: .)")
    p.add_argument("--brief", action="store_true", help="counts per stage only")
    p.add_argument("--json", action="store_true", help="one JSON object per target")
    p.add_argument("--no-snakemake", action="store_true",
                   help="do not ask Snakemake what it would rerun (a target that exists is "
                   "'present', never 'done' or 'stale')")
    p.add_argument("--targets", metavar="STAGE",
                   help="print only this stage's target paths, one per line")
    p.add_argument("--run-snakemake", nargs=argparse.REMAINDER, metavar="ARGS",
                   help="with --targets: run `snakemake <targets> ARGS...` instead (all "
                   "remaining arguments go to Snakemake)")
    p.add_argument("--tables", action="store_true",
                   help="per paper table (target tableN): jobs, jobs to run, declared GPU-hours")
    p.add_argument("--check-remote", action="store_true",
                   help="fail unless the default DVC remote's folder exists (before dvc pull)")
    p.add_argument("--verify", nargs="*", metavar="STAGE",
                   help="fail naming the first file of these stages' folders (data or "
                   "data@ci; none: all) that is missing or differs from dvc.lock (after dvc pull)")
    p.set_defaults(func=run)


def _run_snakemake(targets: list[str], args: list[str], stage: str, config: str) -> int:
    """Replace this process by ``snakemake <targets> <args>`` (DVC then sees Snakemake's exit
    status and signals directly)."""
    from ranksrgan.status import snakemake_executable

    if not targets:
        # snakemake without targets would run rule all: the whole DAG, not this stage
        print(f"status: stage {stage} has no targets in {config}: nothing to run",
              file=sys.stderr)
        return 0
    exe = snakemake_executable()
    if exe is None:
        raise RankSRGANError("snakemake: not found next to this Python nor on PATH (make venv)")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(exe, [exe, *targets, *args])
    return 1  # not reached


def _print_table_costs(config: dict, args: argparse.Namespace) -> int:
    from ranksrgan.paper_results import load, resolve_path
    from ranksrgan.plan_cost import format_costs, table_costs

    report = config.get("report") or {}
    if not report:
        raise RankSRGANError(f"{args.config}: config key 'report' (missing key): no tables")
    tables = list(load(resolve_path(report["paper_results"]))["tables"])
    print(format_costs(table_costs([args.config], tables, workdir=args.root)))
    print("GPU-h / CPU-h: runtime x gpu (x threads) as the rules declare them (config "
          "resources:), not measured; shared jobs counted in each table, once under 'all'")
    return 0


def run(args: argparse.Namespace) -> int:
    """Print the status (or a stage's targets, or run a check); exit 0, or 1 on a failed check."""
    from ranksrgan.config import load_config, schema_file
    from ranksrgan.layout import STAGES, stage_targets
    from ranksrgan.status import format_status, target_states

    config = load_config(args.config, schema_file())
    if args.tables:
        return _print_table_costs(config, args)
    if args.run_snakemake is not None and not args.targets:
        raise RankSRGANError("--run-snakemake needs --targets STAGE")
    if args.targets:
        if args.targets not in STAGES:
            raise RankSRGANError(
                f"--targets {args.targets}: unknown stage (known: {', '.join(STAGES)})"
            )
        targets = stage_targets(config)[args.targets]
        if args.run_snakemake is not None:
            return _run_snakemake(targets, args.run_snakemake, args.targets, args.config)
        for target in targets:
            print(target)
        return 0
    if args.check_remote or args.verify is not None:
        from ranksrgan.status.pull import check_remote, parse_stages, pull_error, verify_pull

        if args.check_remote:
            check_remote(args.root)
        if args.verify is not None:
            stages = parse_stages(args.verify)
            problems = verify_pull(config, stages, args.root)
            if problems:
                raise pull_error(problems)
            print(f"status: the pulled {', '.join(stages)} folders are dvc.lock's version")
        return 0
    states = target_states(config, args.root, plan=not args.no_snakemake,
                           configfile=args.config)
    if args.json:
        for s in states:
            print(json.dumps(asdict(s)))
    else:
        print(format_status(states, verbose=not args.brief))
    return 0
