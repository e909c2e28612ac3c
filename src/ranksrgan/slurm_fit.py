"""Refuse a SLURM run whose jobs fit no partition, before anything is submitted.

The SLURM plugin picks the best-fitting partition of ``--slurm-partition-config`` for each
job; when none fits it logs "Falling back to default behavior" and submits without ``-p``,
so the job lands in the cluster's default partition, where it is killed at that partition's
time limit or waits forever for a GPU it cannot get. ``check_slurm_partitions`` (called from
``onstart`` in ``workflow/rules/common.smk``: the executor settings are known only once the
run starts) asks the plugin's own fit test (``Partition.score_job_fit``) for every job that
will run, and stops the run with one line naming the rule and the limit it exceeds.

Torch-free: it runs inside the Snakemake process.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ranksrgan.errors import RankSRGANError

# (job resource, partition limit) pairs worth naming in the message, in that order
_LIMITS = (
    ("runtime", "max_runtime", "min"),
    ("mem_mb", "max_mem_mb", "MB"),
    ("threads", "max_threads", "threads"),
    ("gpu", "max_gpu", "GPUs"),
)


def _requested(job: Any, resource: str) -> float:
    if resource == "threads":
        return float(getattr(job, "threads", 0) or 0)
    value = job.resources.get(resource, 0)
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _exceeded(job: Any, partition: Any) -> str:
    """The first limit of ``partition`` the job exceeds, as words for the message."""
    gpus = _requested(job, "gpu")
    for resource, limit_name, unit in _LIMITS:
        limit = getattr(partition.limits, limit_name)
        want = _requested(job, resource)
        if resource == "gpu":
            if gpus > 0 and (limit == 0 or gpus > limit):
                return f"{partition.name}: {gpus:g} GPUs > max_gpu {limit}"
            continue
        if want > 0 and not math.isinf(limit) and want > limit:
            return f"{partition.name}: {resource} {want:g} {unit} > {limit_name} {limit:g}"
    return f"{partition.name}: another limit (cluster, MPI, GPU model or CPUs per task)"


def _runs_on_the_submit_host(job: Any) -> bool:
    rule = job.rule
    return rule.group is None and (rule.norun or rule.name in rule.workflow._localrules)


def unfit_jobs(jobs: Iterable[Any], partitions: list[Any]) -> list[str]:
    """One message per rule with a job that fits none of ``partitions`` (plugin ``Partition``
    objects), naming the rule and, per partition, the limit the job exceeds; local rules
    (downloads, ``all``) never go to SLURM and are left out."""
    messages: dict[str, str] = {}
    for job in jobs:
        if job.name in messages or _runs_on_the_submit_host(job):
            continue
        if any(p.score_job_fit(job) is not None for p in partitions):
            continue
        reasons = "; ".join(_exceeded(job, p) for p in partitions)
        messages[job.name] = f"rule {job.name} fits no SLURM partition ({reasons})"
    return list(messages.values())


def _partition_file(workflow: Any) -> Path | None:
    settings = getattr(workflow, "executor_settings", None)
    path = getattr(settings, "partition_config", None)
    if path:
        return Path(path)
    env = os.environ.get("SNAKEMAKE_SLURM_PARTITIONS")
    return Path(env) if env else None


def check_slurm_partitions(workflow: Any) -> None:
    """Raise one line when the run uses the SLURM executor with a partition file and some job
    that will run fits none of its partitions; do nothing for any other executor."""
    plugin = getattr(workflow, "executor_plugin", None)
    if plugin is None or "slurm" not in str(getattr(plugin, "name", "")):
        return
    path = _partition_file(workflow)
    if path is None:
        return  # the plugin then queries scontrol itself; nothing to check against here
    from snakemake_executor_plugin_slurm.partitions import read_partition_file

    partitions = read_partition_file(path)
    problems = unfit_jobs(workflow.dag.needrun_jobs(), partitions)
    if problems:
        more = f" (and {len(problems) - 1} more rules)" if len(problems) > 1 else ""
        raise RankSRGANError(
            f"{path}: {problems[0]}{more}; raise `resources:` limits in the partition file or "
            "lower the rule's config `resources.<stage>`"
        )
