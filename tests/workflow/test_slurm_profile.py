"""The SLURM profile (workflow/profiles/slurm) against the real executor plugin.

Fake `sbatch`/`squeue`/`sacct`/`scancel`/`srun` (plus `scontrol`, `sinfo`, `sacctmgr`, which the
plugin also calls) first on PATH record what the plugin submits, run each job at once and
report it COMPLETED or FAILED. The rules of the workflow are read from Snakemake, never listed
here, so a new rule without scheduler sizes fails this file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from tests.support import REPO
from tests.support.configs import moved_demo_config

SNAKEMAKE = Path(sys.executable).parent / "snakemake"
PROFILE = REPO / "workflow" / "profiles" / "slurm"
ACCOUNT = "ranksrgan_test"

# One Python script per SLURM command; state (job ids, states, calls) lives in $FAKE_SLURM_DIR.
_FAKE_COMMON = '''
import fcntl, json, os, subprocess, sys
from pathlib import Path
STATE = Path(os.environ["FAKE_SLURM_DIR"])

def record(name, **extra):
    with open(STATE / "calls.jsonl", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(json.dumps({"cmd": name, "argv": sys.argv[1:], **extra}) + "\\n")

def jobs():
    path = STATE / "jobs.json"
    return json.loads(path.read_text()) if path.exists() else {}

def update_job(job_id, **fields):
    with open(STATE / "jobs.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        table = jobs()
        table.setdefault(job_id, {}).update(fields)
        tmp = STATE / "jobs.json.tmp"
        tmp.write_text(json.dumps(table))
        tmp.replace(STATE / "jobs.json")

def option(args, *names):
    """Value of `--name=v`, `--name v` or `-n v` in args (last one wins)."""
    value = None
    for i, a in enumerate(args):
        for n in names:
            if a.startswith(n + "="):
                value = a[len(n) + 1:]
            elif a == n and i + 1 < len(args):
                value = args[i + 1]
    return value
'''

_FAKE = {
    "sbatch": '''
args = sys.argv[1:]
record("sbatch", stdin=None if option(args, "--wrap") else sys.stdin.read())
with open(STATE / "ids.lock", "a") as lock:  # one id per submission (sbatch runs in parallel)
    fcntl.flock(lock, fcntl.LOCK_EX)
    job_id = str(1000 + len(jobs()))
    update_job(job_id, name=option(args, "--job-name", "-J"), state="PENDING")
wrap = option(args, "--wrap")
log = (option(args, "--output", "-o") or "slurm-%j.out").replace("%j", job_id)
Path(log).parent.mkdir(parents=True, exist_ok=True)
env = dict(os.environ, SLURM_JOB_ID=job_id, SLURM_JOBID=job_id,
           SLURM_CPUS_PER_TASK=option(args, "--cpus-per-task", "-c") or "1")
gpus = option(args, "--gpus", "-G")
if gpus:
    env["SLURM_GPUS"] = gpus
update_job(job_id, state="RUNNING")
with open(log, "w") as out:
    if os.environ.get("FAKE_SLURM_FAIL") == option(args, "--comment"):
        rc = 1  # the job dies on its node before running anything (OOM kill, node failure)
    else:
        rc = subprocess.call(["/bin/sh", "-c", wrap], cwd=option(args, "-D", "--chdir"),
                             env=env, stdout=out, stderr=subprocess.STDOUT)
update_job(job_id, state="COMPLETED" if rc == 0 else "FAILED", exit_code=rc)
print(job_id)
''',
    "srun": '''
args = sys.argv[1:]
record("srun")
while args and args[0].startswith("-"):
    args.pop(0)
os.execvp(args[0], args)
''',
    "squeue": '''
args = sys.argv[1:]
record("squeue")
name = option(args, "--name")
for job_id, job in sorted(jobs().items()):
    if name is None or job["name"] == name:
        print(f"{job_id}|{job['state']}")
''',
    "sacct": '''
args = sys.argv[1:]
record("sacct")
name = option(args, "--name")
for job_id, job in sorted(jobs().items()):
    if name is None or job["name"] == name:
        print(f"{job_id}|{job['state']}")
''',
    "scancel": '''
record("scancel")
for job_id in sys.argv[1:]:
    if job_id in jobs():
        update_job(job_id, state="CANCELLED")
''',
    "scontrol": '''
record("scontrol")
if sys.argv[1:3] == ["show", "config"]:
    print("MinJobAge               = 300 sec")
''',
    "sinfo": '''
record("sinfo")
print("PARTITION\\ncpu*\\ngpu")
''',
    "sacctmgr": '''
record("sacctmgr")
print("  " + os.environ["FAKE_SLURM_ACCOUNT"])
''',
}


def _fake_slurm(tmp_path: Path) -> dict[str, str]:
    """Write the fake SLURM commands; return the environment that puts them first on PATH."""
    bin_dir, state = tmp_path / "fake_slurm_bin", tmp_path / "fake_slurm_state"
    bin_dir.mkdir()
    state.mkdir()
    for name, body in _FAKE.items():
        path = bin_dir / name
        path.write_text(f"#!{sys.executable}\n{_FAKE_COMMON}\n{body}")
        path.chmod(0o755)
    return dict(
        os.environ,
        PATH=f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
        + os.environ.get("PATH", ""),
        FAKE_SLURM_DIR=str(state),
        FAKE_SLURM_ACCOUNT=ACCOUNT,
    )


def _calls(env: dict[str, str], cmd: str) -> list[list[str]]:
    path = Path(env["FAKE_SLURM_DIR"]) / "calls.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [r["argv"] for r in rows if r["cmd"] == cmd]


def _option(args: list[str], *names: str) -> str | None:
    value = None
    for i, a in enumerate(args):
        for n in names:
            if a.startswith(n + "="):
                value = a[len(n) + 1 :]
            elif a == n and i + 1 < len(args):
                value = args[i + 1]
    return value


def _rule_of(sbatch_args: list[str]) -> str:
    """The rule name the plugin writes into `--comment rule_<name>[_wildcards_...]`."""
    comment = _option(sbatch_args, "--comment")
    m = re.fullmatch(r"rule_(.+?)(?:_wildcards_.*)?", comment or "")
    assert m, sbatch_args
    return m.group(1)


@contextlib.contextmanager
def _plan(configfile: Path, workdir: Path, config: dict | None = None, dag: bool = True):
    """Parse the workflow and build its whole DAG (nothing runs): yields (workflow, jobs);
    jobs is [] with ``dag=False`` (rules only)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
    )

    # repo-relative inputs of the paper config (config/paper_results.yaml) resolve from workdir
    if not (workdir / "config").exists():
        (workdir / "config").symlink_to(REPO / "config")
    cwd = os.getcwd()
    try:
        with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
            wf = api.workflow(
                snakefile=REPO / "workflow" / "Snakefile",
                workdir=workdir,
                config_settings=ConfigSettings(configfiles=[configfile], config=config or {}),
                # only what the profile's default-resources set: sizes must come from rules
                resource_settings=ResourceSettings(default_resources={"slurm_account": ACCOUNT}),
            )
            wf.dag(DAGSettings())
            workflow = wf._workflow
            if not dag:
                yield workflow, []
                return
            workflow._prepare_dag(
                forceall=True, ignore_incomplete=True, lock_warn_only=True, nolock=True
            )
            workflow._build_dag()
            yield workflow, list(workflow.dag.jobs)
    finally:
        os.chdir(cwd)


def _submit_command(job, partitions) -> str:
    """The sbatch line the plugin builds for a job (its own functions, this profile's files)."""
    from snakemake_executor_plugin_slurm.partitions import get_best_partition
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    partition = get_best_partition(partitions, job, logging.getLogger("slurm-test"))
    params = {
        "run_uuid": "run",
        "slurm_logfile": "log/%j.log",
        "comment_str": f"rule_{job.rule.name}",
        "account": f" -A {job.resources.slurm_account}",
        "partition": f" -p {partition}" if partition else "",
        "workdir": "/wd",
    }
    return get_submit_command(job, params) + set_gres_string(job)


def test_profile_keys_all_reach_snakemake():
    """Every key of the profile is an option Snakemake (or the plugin) knows and is passed on:
    a dict-valued key Snakemake does not know (e.g. `resource-scopes`) is dropped silently."""
    from snakemake.cli import get_argument_parser
    from snakemake.profiles import ProfileConfigFileParser

    path = PROFILE / "config.yaml"
    raw = yaml.safe_load(path.read_text())
    with open(path) as stream:
        parsed = ProfileConfigFileParser().parse(stream)
    assert set(parsed) == set(raw), f"dropped by Snakemake: {set(raw) - set(parsed)}"
    known = {s for a in get_argument_parser()._actions for s in a.option_strings}
    assert {f"--{k}" for k in raw} <= known, {f"--{k}" for k in raw} - known
    # the partition file path is resolved against the profile folder
    assert Path(parsed["slurm-partition-config"]) == PROFILE / "partitions.yaml"
    assert parsed["set-resource-scopes"] == ["gpu=local"]


def test_every_rule_declares_scheduler_sizes(tmp_path):
    """Every rule of the paper workflow (read from Snakemake, whatever rules exist) declares
    mem_mb and runtime itself, GPU rules also gpu_model; downloads stay on the submit host."""
    with _plan(REPO / "config" / "config.yaml", tmp_path, dag=False) as (workflow, _):
        missing = [
            f"{r.name}: {key}"
            for r in workflow.rules
            if not r.norun  # `all` and the tableN targets run nothing (local, no job)
            for key in ("mem_mb", "runtime")
            if key not in r.resources
        ]
        # a GPU rule also passes config resources.gpu_model on (gpu_model_for in common.smk)
        missing += [
            f"{r.name}: gpu_model"
            for r in workflow.rules
            if "gpu" in r.resources and "gpu_model" not in r.resources
        ]
        local = set(workflow._localrules)
    assert not missing, f"rules without scheduler sizes: {missing}"
    assert {"download_archive", "fetch_file"} <= local
    assert {"table1", "table4", "supp_table2"} <= local


def test_submissions_match_rules_and_gpu_jobs_get_a_gpu_partition(tmp_path):
    """Paper config, whole DAG, through the plugin's own sbatch builder and this profile's
    partitions: each job asks for its rule's threads, mem_mb and runtime; jobs with gpu >= 1 get
    `--gpus=<model>:<n>` and the GPU partition, all others no GPU and the CPU partition."""
    from snakemake_executor_plugin_slurm.partitions import read_partition_file

    partitions = read_partition_file(PROFILE / "partitions.yaml")
    assert {p.name: p.limits.max_gpu > 0 for p in partitions} == {"cpu": False, "gpu": True}
    gpu_rules, cpu_rules, prep = set(), set(), {}
    with _plan(
        REPO / "config" / "config.yaml", tmp_path, {"resources": {"gpu_model": "a100"}}
    ) as (workflow, jobs):
        local = set(workflow._localrules)
        planned = {j.rule.name for j in jobs}
        train_rules = {r.name for r in workflow.rules if r.name.startswith("train_")}
        train_rules = (train_rules & planned) - local
        for job in jobs:
            if job.rule.name == "all" or job.rule.name in local:
                continue
            call = _submit_command(job, partitions)
            args = shlex.split(call)
            res = job.resources
            if "mem_mb" in job.rule.resources:  # rules without sizes: the test above
                assert _option(args, "--mem") == str(res.mem_mb), call
                assert _option(args, "-t") == str(res.runtime), call
            assert _option(args, "--cpus-per-task") == str(job.threads), call
            assert _option(args, "-A") == ACCOUNT
            if res.get("gpu", 0) >= 1:
                gpu_rules.add(job.rule.name)
                model = "a100:" if "gpu_model" in job.rule.resources else ""  # see above
                assert _option(args, "--gpus") == f"{model}{res.gpu}", call
                assert _option(args, "-p") == "gpu", call
            else:
                cpu_rules.add(job.rule.name)
                assert "--gpus" not in call and "--gres" not in call, call
                assert _option(args, "-p") == "cpu", call
            if job.rule.name == "prepare_dataset":
                prep[job.wildcards.dataset] = res.runtime
            if job.rule.name in ("sr_shard", "score_shard"):
                assert job.threads >= 2, job
    # device: auto -> networks and metrics on a GPU; bicubic SR and the data stage on CPUs
    assert {"sr_shard", "score_shard"} | train_rules <= gpu_rules
    assert {"prepare_dataset", "sr_shard", "sr_gather", "score_gather"} <= cpu_rules
    # sized for the paper: Flickr2K (2650 images) gets more time than Set14 (14)
    assert prep["Flickr2K"] > prep["DIV2K_train"] > prep["Set14"] >= 30


def test_demo_stages_through_the_profile_with_fake_slurm(tmp_path):
    """Data stage, a bicubic SR shard and a score shard of the demo submitted by the real
    plugin with this profile: each job's sbatch line carries its rule's sizes, GPU jobs
    (device auto: the score shard) ask for a GPU and CPU jobs for none; every job ran,
    squeue reported it COMPLETED, and the outputs exist and equal the sr shard's images."""
    env = _fake_slurm(tmp_path)
    root = tmp_path / "run"
    sizes = {  # distinct per stage, so a rule given another stage's sizes shows up
        "download": {"threads": 1, "mem_mb": 900, "runtime": 5},
        "prepare": {"threads": 1, "mem_mb": 1100, "runtime": 6, "per_image_s": 0},
        "sr": {"threads": 1, "mem_mb": 1200, "runtime": 7, "per_image_s": 0},
        "score": {"threads": 2, "mem_mb": 1300, "runtime": 8, "per_image_s": 0},
        "light": {"threads": 1, "mem_mb": 1400, "runtime": 9},
    }
    config = moved_demo_config(root, device="auto", resources=sizes)
    cfg = yaml.safe_load(config.read_text())
    cfg["score"]["metrics"] = ["psnr", "ssim", "niqe"]  # Ma/PI (5 s per job here): make test-slurm
    config.write_text(yaml.safe_dump(cfg))
    results = root / "results"
    # the data stage of one set (all three: make test-slurm), its bicubic SR, one score shard
    targets = [
        str(results / "data" / "demo_val" / "manifest.parquet"),
        str(results / "scores" / "demo_val" / "bicubic" / "shards" / "0.parquet"),
    ]
    t0 = time.monotonic()
    proc = subprocess.run(
        [str(SNAKEMAKE), *targets, "-s", str(REPO / "workflow" / "Snakefile"),
         "--workflow-profile", str(PROFILE), "--directory", str(root),
         "--configfile", str(config), "--default-resources", f"slurm_account={ACCOUNT}",
         "--slurm-init-seconds-before-status-checks", "1", "--latency-wait", "5"],
        capture_output=True, text=True, env=env, timeout=240,
    )
    elapsed = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    for t in targets:
        assert Path(t).is_file(), t

    submitted = _calls(env, "sbatch")
    rules = [_rule_of(a) for a in submitted]
    assert sorted(rules) == sorted(
        ["demo_source", "prepare_dataset", "sr_shard", "sr_gather", "score_shard"]
    ), rules
    stage = {"demo_source": "light", "prepare_dataset": "prepare", "sr_shard": "sr",
             "sr_gather": "light", "score_shard": "score"}
    for args, rule in zip(submitted, rules, strict=True):
        want = sizes[stage[rule]]
        assert _option(args, "--mem") == str(want["mem_mb"]), (rule, args)
        assert _option(args, "-t") == str(want["runtime"]), (rule, args)
        assert _option(args, "--cpus-per-task") == str(want["threads"]), (rule, args)
        assert _option(args, "-A") == ACCOUNT, args
        assert _option(args, "-D") == str(root), args
        gpu = rule == "score_shard"  # device auto: metrics ask for a GPU, bicubic SR does not
        assert (_option(args, "--gpus") == "1") is gpu, (rule, args)
        assert _option(args, "-p") == ("gpu" if gpu else "cpu"), (rule, args)
        assert "--gres" not in " ".join(args)
    # the download ran on the submit host, not through sbatch
    assert (results / "cache" / "archives" / "demo_photos.zip").is_file()
    # each job's step went through srun, and squeue (not sacct) answered the status polls
    assert len(_calls(env, "srun")) == len(submitted)
    assert _calls(env, "squeue") and not _calls(env, "sacct")
    states = json.loads((Path(env["FAKE_SLURM_DIR"]) / "jobs.json").read_text())
    assert {j["state"] for j in states.values()} == {"COMPLETED"}

    scores = pd.read_parquet(targets[-1])
    assert sorted(set(scores["image"])) == ["camera", "coins"]
    assert sorted(set(scores["metric"])) == ["niqe", "psnr", "ssim"]
    assert scores["value"].notna().all()
    assert elapsed < 200, elapsed


def _run_through_profile(
    env: dict[str, str], root: Path, config: Path, target: str
) -> subprocess.CompletedProcess:
    """Snakemake for one target through the SLURM profile with the fake SLURM of ``env``."""
    return subprocess.run(
        [str(SNAKEMAKE), target, "-s", str(REPO / "workflow" / "Snakefile"),
         "--workflow-profile", str(PROFILE), "--directory", str(root),
         "--configfile", str(config), "--default-resources", f"slurm_account={ACCOUNT}",
         "--slurm-init-seconds-before-status-checks", "1"],
        capture_output=True, text=True, env=env, timeout=120,
    )


def test_failed_job_is_reported_failed(tmp_path):
    """A job that SLURM reports FAILED (it died on its node) stops the run with the plugin's
    error, as seen through the profile's status command (no hang waiting for it)."""
    env = _fake_slurm(tmp_path)
    env["FAKE_SLURM_FAIL"] = "rule_demo_source"
    root = tmp_path / "run"
    config = moved_demo_config(root)
    target = yaml.safe_load(config.read_text())["demo_source"]["output"]
    proc = _run_through_profile(env, root, config, target)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    states = json.loads((Path(env["FAKE_SLURM_DIR"]) / "jobs.json").read_text())
    assert [j["state"] for j in states.values()] == ["FAILED"]
    assert "SLURM status is: 'FAILED'" in out, out[-3000:]
    assert not Path(target).exists()


def test_every_paper_job_fits_a_partition_and_an_oversized_rule_is_named(tmp_path):
    """The plugin's own fit test on the paper DAG: every job fits the shipped partitions; with
    the GPU partition's time limit below the train rules' runtime, the GAN rules are named with
    the limit they exceed, and so are the 720-min Rankers (the plugin alone would submit them
    without `-p`)."""
    import dataclasses

    from snakemake_executor_plugin_slurm.partitions import read_partition_file

    from ranksrgan.slurm_fit import unfit_jobs

    partitions = read_partition_file(PROFILE / "partitions.yaml")
    short = [
        dataclasses.replace(p, limits=dataclasses.replace(p.limits, max_runtime=600))
        if p.name == "gpu" else p
        for p in partitions
    ]
    with _plan(REPO / "config" / "config.yaml", tmp_path) as (workflow, jobs):
        local = set(workflow._localrules)
        jobs = [j for j in jobs if j.rule.name != "all" and j.rule.name not in local]
        assert unfit_jobs(jobs, partitions) == []
        problems = unfit_jobs(jobs, short)
    assert problems, "a 2880-min train job fits a 600-min GPU partition?"
    assert {p.split()[1].split("_")[0] for p in problems} == {"train", "ranker"}, problems
    assert "gpu: runtime 2880 min > max_runtime 600" in problems[0], problems[0]
    assert "cpu: 1 GPUs > max_gpu 0" in problems[0], problems[0]


def test_run_whose_job_fits_no_partition_stops_before_any_submission(tmp_path):
    """A light job asking for more than every partition's max_runtime: the run stops at start
    with one line naming the rule and the limit, and nothing reaches sbatch."""
    env = _fake_slurm(tmp_path)
    root = tmp_path / "run"
    config = moved_demo_config(root, resources={"light": {"runtime": 5000}})
    target = yaml.safe_load(config.read_text())["demo_source"]["output"]
    proc = _run_through_profile(env, root, config, target)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    lines = [ln for ln in out.splitlines() if "fits no SLURM partition" in ln]
    assert lines, out[-3000:]
    assert "rule demo_source" in lines[0] and "runtime 5000 min > max_runtime 2880" in lines[0]
    assert _calls(env, "sbatch") == []
    assert not Path(target).exists()


def _train_job_lines(tmp_path: Path, device: str, name: str) -> list[tuple[str, str, str]]:
    """(rule, sbatch line, shell command) of every train_*/ranker_* job of the demo DAG with
    `resources.train.gpus` and `resources.ranker.gpus` 2 on ``device``."""
    from snakemake_executor_plugin_slurm.partitions import read_partition_file

    partitions = read_partition_file(PROFILE / "partitions.yaml")
    resources = {
        "gpu_model": "a100",
        "train": {"threads": 3, "mem_mb": 5000, "runtime": 60, "gpus": 2},
        "ranker": {"threads": 2, "mem_mb": 4000, "runtime": 30, "gpus": 2},
    }
    root = tmp_path / name
    config = moved_demo_config(root, device=device, resources=resources)
    out = []
    with _plan(config, root) as (_, jobs):
        for job in jobs:
            if job.rule.name.startswith(("train_", "ranker_")):
                out.append((job.rule.name, _submit_command(job, partitions), job.shellcmd))
    assert {r.split("_")[0] for r, _, _ in out} == {"train", "ranker"}, out
    return out


def test_two_gpu_training_jobs_ask_for_two_gpus_and_start_torchrun(tmp_path):
    """`resources.train.gpus: 2` (and ranker): the sbatch line asks for 2 GPUs of the model
    with CPUs and memory x 2, and the job starts 2 processes through torchrun, each with the
    per-process threads; on `device: cpu` the same 2 (gloo) processes and no GPU."""
    for rule, call, shell in _train_job_lines(tmp_path, "cuda", "gpu"):
        args = shlex.split(call)
        threads, mem = (3, 5000) if rule.startswith("train_") else (2, 4000)
        assert _option(args, "--gpus") == "a100:2", call
        assert _option(args, "-p") == "gpu", call
        assert _option(args, "--cpus-per-task") == str(2 * threads), call
        assert _option(args, "--mem") == str(2 * mem), call
        stage = "train --preset" if rule.startswith("train_") else "ranker train --index"
        launch = (
            f"OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} "
            f"torchrun --standalone --nproc-per-node 2 -m ranksrgan {stage}"
        )
        assert shell.startswith(launch), shell
    for rule, call, shell in _train_job_lines(tmp_path, "cpu", "cpu"):
        args = shlex.split(call)
        assert "--gpus" not in call and _option(args, "-p") == "cpu", call
        assert _option(args, "--cpus-per-task") == str(6 if rule.startswith("train_") else 4)
        assert "torchrun --standalone --nproc-per-node 2 -m ranksrgan" in shell, shell
        assert "--device cpu" in shell, shell
