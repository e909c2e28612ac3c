"""Print the mean score per method x metric of a results folder's score Parquets.

Usage: python scripts/summarise_scores.py results/demo [--dataset demo_test]

A quick look before the report stage exists; stand-in rows (synthetic NRQM, demo-trained
networks) are counted and flagged so that no stand-in number passes as a paper number.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def summarise(results: Path, dataset: str | None = None) -> pd.DataFrame:
    """Mean value per (dataset, method) x metric over the rows without an error."""
    files = sorted((results / "scores").glob(f"{dataset or '*'}/*.parquet"))
    if not files:
        raise SystemExit(f"error: no score Parquet under {results / 'scores'}")
    df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    ok = df[df["error"].fillna("") == ""]
    table = ok.pivot_table(index=["dataset", "method"], columns="metric", values="value")
    table["stand_in_rows"] = ok.groupby(["dataset", "method"])["stand_in"].sum()
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("results", type=Path, help="a results_dir, e.g. results/demo")
    ap.add_argument("--dataset", help="only this dataset")
    args = ap.parse_args(argv)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summarise(args.results, args.dataset).round(3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
