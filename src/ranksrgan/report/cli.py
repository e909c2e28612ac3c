"""``ranksrgan report``: build the report folder, or print a score summary in the terminal.

``build`` takes every input file explicitly (the rule passes only what the config enables)
and the config file, from which it extracts plain values: the ``report`` section (which of
our runs fills which paper row, with its per-table ``tables`` override), the methods' train
presets, ``train.iteration_scale`` and the settings the "setup vs paper" section compares.
``--tables NAME ...`` renders only those tables (and the figures they need): the page of one
``snakemake tableN`` target.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import yaml

from ranksrgan.errors import RankSRGANError

log = logging.getLogger(__name__)


def settings_from_config(config: dict[str, Any], config_path: str, paper_path: str):
    """Plain report settings from a config dict (the only place the report reads config)."""
    from ranksrgan.report.build import ReportSettings
    from ranksrgan.report.mini_study import MiniStudy
    from ranksrgan.report.paper import load_paper
    from ranksrgan.report.provenance import environment, setting, setup_table
    from ranksrgan.report.tables import RunMapping

    rep = config.get("report") or {}
    ds = rep.get("datasets") or {}
    methods = config.get("methods") or {}
    mapping = RunMapping(
        datasets={k: v["dataset"] for k, v in ds.items()},
        dataset_stand_ins={k: v["stand_in"] for k, v in ds.items() if v.get("stand_in")},
        methods=dict(rep.get("methods") or {}),
        rankers=dict(rep.get("rankers") or {}),
        rankdata=dict(rep.get("rankdata") or {}),
        tables={t: {s: dict(v or {}) for s, v in (sec or {}).items()}
                for t, sec in (rep.get("tables") or {}).items()},
        trained={m: str(spec["train_preset"]) for m, spec in methods.items()
                 if isinstance(spec, dict) and spec.get("train_preset")},
    )
    crops = rep.get("crops") or {}
    paper = load_paper(paper_path)
    setup = setup_table(paper.setup, [setting(config, it["path"]) for it in paper.setup])
    return ReportSettings(
        mapping=mapping,
        curves=_curves(rep, methods, mapping),
        crop_dataset=crops.get("dataset"),
        crop_image=crops.get("image"),
        crop_size=int(crops.get("size", 96)),
        title=rep.get("title") or "RankSRGAN reproduction report",
        config_path=config_path,
        setup=setup,
        environment=environment(),
        mini_study=MiniStudy.from_mapping(rep["mini_study"]) if rep.get("mini_study") else None,
        iteration_scale=iteration_scale(config, config_path),
    )


def iteration_scale(config: dict[str, Any], source: str = "config") -> float:
    """``train.iteration_scale`` (default 1: the paper's schedule); a positive number
    (one-line error naming ``source`` and the key otherwise)."""
    v = (config.get("train") or {}).get("iteration_scale", 1)
    if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
        raise RankSRGANError(
            f"{source}: config key 'train.iteration_scale': expected a positive number, "
            f"got {v!r}"
        )
    return float(v)


def _curves(rep: dict[str, Any], methods: dict[str, Any], mapping) -> dict[str, str]:
    """Curve label -> train preset: ``report.curves``, and for the supplement's Fig. 1 labels
    it does not give, the train preset of the method their row maps to in supp_table1
    (RankSRGAN-R-D1 -> ranksrgan_d1 -> ranksrgan_div2k)."""
    from ranksrgan.report.build import FIGURE_CURVES

    curves = dict(rep.get("curves") or {})
    rows = mapping.for_table("supp_table1").methods
    for labels in FIGURE_CURVES.values():
        for label in labels:
            spec = methods.get(rows.get(label, "")) or {}
            if label not in curves and isinstance(spec, dict) and spec.get("train_preset"):
                curves[label] = str(spec["train_preset"])
    return curves


def _build(args: argparse.Namespace) -> int:
    from ranksrgan.report.build import ReportInputs, build_report
    from ranksrgan.report.provenance import file_sha256, git_commit

    config, config_name, config_sha = _run_config(args)
    settings = settings_from_config(config, config_name, args.paper)
    inputs = ReportInputs(
        scores=args.scores, train=args.train, data_manifests=args.data_manifests,
        sr_manifests=args.sr_manifests, rankdata=args.rankdata, rankers=args.rankers,
    )
    extra = {
        "config sha256": config_sha,
        "paper results": f"{args.paper} (sha256 {file_sha256(args.paper)[:16]}...)",
        "git commit": git_commit(),
        "results_dir": str(config.get("results_dir", "")),
    }
    index = build_report(args.paper, inputs, settings, args.out, extra, tables=args.tables)
    print(index)
    return 0


def _run_config(args: argparse.Namespace) -> tuple[dict[str, Any], str, str]:
    """The run's config, its name for the page and its sha256.

    Snakemake hands the resolved config (``--config-json``: every ``--configfile`` and
    ``--config`` override applied), hashed as canonical JSON; by hand, a YAML file is read and
    hashed as bytes. Either is validated like the DAG's config.
    """
    import hashlib
    import json

    from ranksrgan.config import schema_file, validate_config

    if args.config_json is not None:
        try:
            config = json.loads(args.config_json)
        except ValueError as exc:
            raise RankSRGANError(f"--config-json: invalid JSON ({exc})") from None
        name = "resolved config (--config-json)"
        canonical = json.dumps(config, sort_keys=True).encode()
        sha = hashlib.sha256(canonical).hexdigest()
    else:
        from ranksrgan.report.provenance import file_sha256

        cfg_path = Path(args.config)
        if not cfg_path.is_file():
            raise RankSRGANError(f"{cfg_path}: config file not found")
        try:
            config = yaml.safe_load(cfg_path.read_text()) or {}
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0]
            raise RankSRGANError(f"{cfg_path}: invalid YAML ({first})") from None
        name, sha = str(cfg_path), file_sha256(cfg_path)
    validate_config(config, schema_file(), name)
    return config, name, sha


def _summary(args: argparse.Namespace) -> int:
    import pandas as pd

    from ranksrgan.report.inputs import read_scores
    from ranksrgan.report.tables import summary_table

    files = sorted((Path(args.results) / "scores").glob(f"{args.dataset or '*'}/*.parquet"))
    if not files:
        raise RankSRGANError(f"{Path(args.results) / 'scores'}: no score Parquet found")
    table = summary_table(read_scores(files), args.dataset)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.round(3).to_string())
    if not table.empty and table["stand_in"].any():
        print("stand_in = True: a stand-in number (synthetic NRQM, demo-trained network, ...)")
    return 0


def register(subparsers) -> None:
    """Add ``ranksrgan report build|summary``."""
    p = subparsers.add_parser("report", help="tables, figures and the report page")
    sub = p.add_subparsers(dest="report_cmd", metavar="CMD", required=True)

    b = sub.add_parser("build", help="write R/report/ (tables, figures, index.html, index.md)")
    src = b.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", help="the run's config YAML (by hand)")
    src.add_argument(
        "--config-json", help="the resolved config as JSON (what the workflow passes)"
    )
    b.add_argument("--paper", required=True, help="config/paper_results.yaml")
    b.add_argument("--out", required=True, help="report folder, e.g. results/demo/report")
    for flag, what in (
        ("--scores", "score Parquets R/scores/{dataset}/{method}.parquet"),
        ("--train", "R/train/{preset}/G.json (val.parquet beside it)"),
        ("--data-manifests", "R/data/{dataset}/manifest.parquet"),
        ("--sr-manifests", "R/sr/{method}/{dataset}/manifest.parquet"),
        ("--rankdata", "R/rankdata/{name}/index.parquet (stats.json beside it)"),
        ("--rankers", "R/ranker/{name}/eval.parquet"),
    ):
        b.add_argument(flag, nargs="*", default=[], help=what)
    b.add_argument("--tables", nargs="+", metavar="NAME", default=None,
                   help="render only these tables of --paper (and the figures they need), "
                        "e.g. --tables table4; default: every table, figure and section")
    b.set_defaults(func=_build)

    s = sub.add_parser("summary", help="mean score per dataset x method x metric (terminal)")
    s.add_argument("results", help="a results_dir, e.g. results/demo")
    s.add_argument("--dataset", help="only this dataset")
    s.set_defaults(func=_summary)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
