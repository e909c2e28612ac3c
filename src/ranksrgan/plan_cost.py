"""What each paper table costs: jobs and declared GPU-hours of its ``tableN`` target.

Built from Snakemake's own DAG of the table targets (one DAG for all of them; each table's
jobs are the closure of its target's dependencies), so the count is what ``snakemake -n
tableN`` would run from scratch, and experiments shared by tables are counted in each table
but once in the total. The GPU-hours are what the rules declare (``runtime`` minutes x
``gpu``), not a measurement: a cluster user's budget line. ``to_run`` counts the jobs a run
would still execute now (outputs missing or out of date).

Imports Snakemake (not torch) when called; used by ``ranksrgan status --tables``.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ranksrgan.errors import RankSRGANError

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class TableCost:
    """Jobs and declared resources of one table target."""

    table: str
    jobs: int
    to_run: int
    gpu_jobs: int
    gpu_hours: float
    cpu_hours: float


def _job_cost(job: Any) -> tuple[float, float]:
    """(GPU-hours, CPU-hours) a job declares: runtime (minutes) x gpu, x threads."""
    res = job.resources
    runtime = float(res.get("runtime", 0) or 0) / 60.0
    return runtime * float(res.get("gpu", 0) or 0), runtime * float(job.threads or 1)


def table_costs(
    configfiles: list[str | os.PathLike],
    tables: list[str],
    workdir: str | os.PathLike = ".",
    snakefile: str | os.PathLike | None = None,
) -> list[TableCost]:
    """Plan the ``tables`` targets of a config and return one :class:`TableCost` per table,
    plus a row ``all`` for their union (shared jobs once)."""
    closures, needrun = _plan(configfiles, tables, workdir, snakefile)
    union: set = set().union(*closures.values())
    return [_cost(t, jobs, needrun) for t, jobs in closures.items()] + [
        _cost("all", union, needrun)
    ]


def table_rules(
    configfiles: list[str | os.PathLike],
    tables: list[str],
    workdir: str | os.PathLike = ".",
    snakefile: str | os.PathLike | None = None,
) -> dict[str, dict[str, int]]:
    """Per table target: rule name -> number of its jobs the target runs from scratch."""
    closures, _ = _plan(configfiles, tables, workdir, snakefile)
    out: dict[str, dict[str, int]] = {}
    for table, jobs in closures.items():
        counts: dict[str, int] = {}
        for j in jobs:
            counts[j.rule.name] = counts.get(j.rule.name, 0) + 1
        out[table] = counts
    return out


def _plan(
    configfiles: list[str | os.PathLike],
    tables: list[str],
    workdir: str | os.PathLike,
    snakefile: str | os.PathLike | None,
) -> tuple[dict[str, set], set]:
    """One DAG of every table target (outputs that exist count as done, as in a real run):
    each table's jobs (the closure of its target's dependencies) and the jobs to run now."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
    )

    if not tables:
        raise RankSRGANError("status --tables: the config has no report section, so no tables")
    snakefile = Path(snakefile or REPO / "workflow" / "Snakefile")
    cwd = os.getcwd()
    try:
        with (
            contextlib.redirect_stderr(io.StringIO()),
            SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api,
        ):
            wf = api.workflow(
                snakefile=snakefile,
                workdir=Path(workdir),
                config_settings=ConfigSettings(configfiles=[Path(c) for c in configfiles]),
                resource_settings=ResourceSettings(),
            )
            wf.dag(DAGSettings(targets=set(tables)))
            workflow = wf._workflow
            workflow._prepare_dag(
                forceall=False, ignore_incomplete=True, lock_warn_only=True, nolock=True
            )
            workflow._build_dag()
            dag = workflow.dag
            needrun = set(dag.needrun_jobs())
            closures: dict[str, set] = {}
            for table in tables:
                roots = [j for j in dag.jobs if j.rule.name == table]
                seen: set = set()
                stack = list(roots)
                while stack:
                    job = stack.pop()
                    if job in seen:
                        continue
                    seen.add(job)
                    stack.extend(dag.dependencies[job])
                closures[table] = seen
            return closures, needrun
    finally:
        os.chdir(cwd)


def _cost(table: str, jobs: set, needrun: set) -> TableCost:
    work = [j for j in jobs if j.rule.name != table and not j.rule.norun]
    gpu = cpu = 0.0
    gpu_jobs = 0
    for j in work:
        g, c = _job_cost(j)
        gpu += g
        cpu += c
        gpu_jobs += g > 0
    return TableCost(
        table=table,
        jobs=len(work),
        to_run=sum(j in needrun for j in work),
        gpu_jobs=gpu_jobs,
        gpu_hours=round(gpu, 1),
        cpu_hours=round(cpu, 1),
    )


def format_costs(rows: list[TableCost]) -> str:
    """A plain-text table of :func:`table_costs` rows."""
    head = f"{'target':<14}{'jobs':>7}{'to run':>8}{'GPU jobs':>10}{'GPU-h':>9}{'CPU-h':>9}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.table:<14}{r.jobs:>7}{r.to_run:>8}{r.gpu_jobs:>10}{r.gpu_hours:>9.1f}"
            f"{r.cpu_hours:>9.1f}"
        )
    return "\n".join(lines)
