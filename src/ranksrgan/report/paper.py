"""The paper's published numbers (``config/paper_results.yaml``) as a long DataFrame.

One row per published value: ``table, row, dataset, metric, paper, better, note, source,
caption`` (``paper`` NaN in a ``published: false`` table: rows beyond the paper). The YAML
keeps the paper's layout (see its header); it is checked against its
schema by :mod:`ranksrgan.paper_results` (the same check config validation makes), so a typo
in the file stops the report with one line naming the file and the key. This module only
flattens it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ranksrgan import paper_results

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


def flatten_tables(tables: dict[str, Any], better: dict[str, str]) -> pd.DataFrame:
    """Long DataFrame of every published value of already validated ``tables``."""
    rows = []
    for name, t in tables.items():
        notes = t.get("row_notes") or {}
        for row, vals in t["rows"].items():
            # Table 2 nests dataset -> metric -> value; the others are metric -> value.
            per_ds = vals if t.get("datasets") else {t["dataset"]: vals}
            for ds, mvals in per_ds.items():
                for metric, v in mvals.items():
                    rows.append(
                        {
                            "table": name,
                            "row": str(row),
                            "dataset": str(ds),
                            "metric": metric,
                            # null: a table beyond the paper (published: false)
                            "paper": float("nan") if v is None else float(v),
                            "better": better[metric],
                            "note": str(notes.get(row, "")),
                            "source": t["source"],
                            "caption": t["caption"],
                        }
                    )
    return pd.DataFrame(rows, columns=PAPER_COLUMNS)


def load_paper(path: str | os.PathLike) -> PaperResults:
    """Read, check (schema and cross-keys) and flatten the published-numbers file."""
    data = paper_results.load(path)
    values = flatten_tables(data["tables"], data["better"])
    return PaperResults(values, data["tables"], data["better"], data.get("setup") or [],
                        data.get("paper") or {})
