"""Which files one paper table needs: the inputs of ``snakemake ... tableN``.

A table's cells are filled from files the report reads (``ranksrgan.report``): score tables
for NIQE / PI / 10-Ma / PSNR cells, a Ranker's evaluation for SROCC / E|SR1-SR2| / Params
cells, a rank index for the rank-dataset size. Which of our runs fills which row is the
config's ``report`` section (paper label -> our name). This module turns the two into the list
of files per table, so that the workflow asks Snakemake for exactly those and nothing else:
Snakemake then runs the sr, train, ranker and rankdata jobs they depend on, once each even when
several tables share them (Table 4's RankSRGAN-N is Table 2's RankSRGAN).

Torch-free (the workflow imports it at DAG load).
"""

from __future__ import annotations

from typing import Any

from ranksrgan.io.contracts import HR
from ranksrgan.layout import Layout
from ranksrgan.paper_results import RANKDATA_METRICS, RANKER_METRICS, SCORE_METRICS, row_datasets

# Metrics a Ranker's own files fill besides its evaluation metrics (its parameter count).
RANKER_FILE_METRICS = (*RANKER_METRICS, "Params (K)")
# What the report reads, by the report CLI's input groups.
INPUT_GROUPS = ("scores", "data", "sr", "train", "rankdata", "rankers")


def table_names(paper: dict[str, Any]) -> list[str]:
    """The tables of the paper results, in the file's order (table1 ... supp_table2)."""
    return list(paper["tables"])


def table_mapping(report: dict[str, Any], table: str, section: str) -> dict[str, str]:
    """Paper label -> our name of one mapping section (``methods``, ``rankers``,
    ``rankdata``) for one table: ``report.<section>`` with ``report.tables.<table>.<section>``
    laid over it (the one rule the report's cells follow too)."""
    base = dict(report.get(section) or {})
    over = ((report.get("tables") or {}).get(table) or {}).get(section) or {}
    return {**base, **over}


def table_inputs(config: dict[str, Any], paper: dict[str, Any], table: str) -> dict[str, list]:
    """The report's input files for one table's cells, by group (see :data:`INPUT_GROUPS`).

    A row whose label the report section does not map gets no file (its cells read
    "not run"); config validation already refuses labels that are no row of any table.
    ``train``: the ``G.json`` of every trained method the rows map to (its training runs for
    the table anyway), for the convergence figures the table's page draws; a curve whose
    preset the table does not train is left out rather than trained for a figure.
    """
    lay = Layout.of(config)
    rep = config.get("report") or {}
    methods, rankers, rankdata = (
        table_mapping(rep, table, section) for section in ("methods", "rankers", "rankdata")
    )
    datasets = {k: v["dataset"] for k, v in (rep.get("datasets") or {}).items()}
    t = paper["tables"][table]
    metrics = set(t["metrics"])
    out: dict[str, list] = {g: [] for g in INPUT_GROUPS}
    for row in map(str, t["rows"]):
        if metrics & set(SCORE_METRICS) and row in methods:
            method = methods[row]
            for paper_ds in row_datasets(t):
                ds = datasets.get(paper_ds)
                if ds is None:
                    continue
                out["scores"].append(lay.score_table(ds, method))
                preset = ((config.get("methods") or {}).get(method) or {}).get("train_preset")
                if preset:
                    out["train"].append(lay.train_meta(preset))
                out["data"].append(lay.data_manifest(ds))
                if method != HR:
                    out["sr"].append(lay.sr_manifest(method, ds))
        if metrics & set(RANKER_FILE_METRICS) and row in rankers:
            out["rankers"].append(lay.ranker_eval(rankers[row]))
        if metrics & set(RANKDATA_METRICS) and row in rankdata:
            out["rankdata"].append(lay.rank_index(rankdata[row]))
    return {g: list(dict.fromkeys(v)) for g, v in out.items()}
