"""The paper's published numbers (``config/paper_results.yaml``) as a long DataFrame.

One row per published value: ``table, row, dataset, metric, paper, better, note, source,
caption``. The YAML keeps the paper's layout (see its header); this module only flattens and
checks it, so a typo in the file stops the report with one line naming the file and the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ranksrgan.errors import RankSRGANError

PAPER_COLUMNS = [
    "table",
    "row",
    "dataset",
    "metric",
    "paper",
    "better",
    "note",
    "source",
    "caption",
]
BETTER = ("lower", "higher", "none")


@dataclass
class PaperResults:
    """Published values (``values``, long format), table metadata and the setup list."""

    values: pd.DataFrame
    tables: dict[str, dict[str, Any]]
    better: dict[str, str]
    setup: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise RankSRGANError(f"{where}: expected a number, got {v!r}")
    return float(v)


def flatten_tables(tables: dict[str, Any], better: dict[str, str], src: str) -> pd.DataFrame:
    """Long DataFrame of every published value; ``src`` names the file in errors."""
    rows = []
    for name, t in tables.items():
        where = f"{src}: tables.{name}"
        for key in ("source", "caption", "metrics", "rows"):
            if key not in t:
                raise RankSRGANError(f"{where}.{key} (missing key)")
        datasets = t.get("datasets")
        if datasets is None and "dataset" not in t:
            raise RankSRGANError(f"{where}.dataset (missing key)")
        for metric in t["metrics"]:
            if better.get(metric) not in BETTER:
                raise RankSRGANError(f"{src}: better.{metric}: must be one of {', '.join(BETTER)}")
        notes = t.get("row_notes") or {}
        for row, vals in t["rows"].items():
            # Table 2 nests dataset -> metric -> value; the others are metric -> value.
            per_ds = vals if datasets else {t["dataset"]: vals}
            for ds, mvals in per_ds.items():
                if datasets and ds not in datasets:
                    raise RankSRGANError(f"{where}.rows.{row}.{ds}: dataset not in {datasets}")
                for metric, v in mvals.items():
                    if metric not in t["metrics"]:
                        raise RankSRGANError(
                            f"{where}.rows.{row}: metric {metric!r} not in {t['metrics']}"
                        )
                    rows.append(
                        {
                            "table": name,
                            "row": str(row),
                            "dataset": str(ds),
                            "metric": metric,
                            "paper": _number(v, f"{where}.rows.{row}.{metric}"),
                            "better": better[metric],
                            "note": str(notes.get(row, "")),
                            "source": t["source"],
                            "caption": t["caption"],
                        }
                    )
    return pd.DataFrame(rows, columns=PAPER_COLUMNS)


def load_paper(path: str | os.PathLike) -> PaperResults:
    """Read and check the published-numbers file."""
    p = Path(path)
    if not p.is_file():
        raise RankSRGANError(f"{p}: paper results file not found")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise RankSRGANError(f"{p}: invalid YAML ({str(exc).splitlines()[0]})") from None
    for key in ("better", "tables"):
        if key not in data:
            raise RankSRGANError(f"{p}: {key} (missing key)")
    values = flatten_tables(data["tables"], data["better"], str(p))
    setup = data.get("setup") or []
    for i, item in enumerate(setup):
        for key in ("label", "path", "paper", "code"):
            if key not in item:
                raise RankSRGANError(f"{p}: setup[{i}].{key} (missing key)")
    return PaperResults(values, data["tables"], data["better"], setup, data.get("paper") or {})
