# Config validation, paths and input functions shared by every stage's rules.
import math
import os
import re
import shlex
import sys
from pathlib import Path

# `ranksrgan` lives beside the Python running Snakemake (.venv/bin) even when that venv is
# not activated: put it on PATH for the shell rules (idempotent).
_BIN = os.path.dirname(sys.executable)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ.update(PATH=os.pathsep.join([_BIN, os.environ.get("PATH", "")]))

sys.path.insert(0, str(Path(workflow.basedir).parent / "src"))

from ranksrgan.config import validate_config  # noqa: E402
from ranksrgan.layout import Layout, stage_targets  # noqa: E402
from snakemake.exceptions import WorkflowError  # noqa: E402
from snakemake.utils import update_config  # noqa: E402


def _config_source():
    files = [str(f) for f in getattr(workflow, "configfiles", []) or []]
    return files[-1] if files else "config/config.yaml"


if not config:
    raise WorkflowError(
        "no config given: add --configfile config/config.yaml (paper) or config/demo.yaml (demo)"
    )


def _typed(value, nested=False):
    """`--config KEY=VALUE` overrides as YAML would type them: Snakemake reads a nested value
    (`train={presets: {srgan: {iterations: 5}}}`) with YAML's base loader, all strings; ints,
    floats, true/false/null are typed here (any other string stays a string)."""
    if isinstance(value, dict):
        return {k: _typed(v, True) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v, True) for v in value]
    if not (nested and isinstance(value, str)):
        return value
    if re.fullmatch(r"[-+]?\d+", value):
        return int(value)
    if re.fullmatch(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?", value):
        return float(value)
    return {"true": True, "false": False, "null": None}.get(value, value)


_overrides = getattr(getattr(workflow, "config_settings", None), "config", None) or {}
if _overrides:
    update_config(config, _typed(dict(_overrides)))

validate_config(
    config, Path(workflow.basedir) / "schemas" / "config.schema.yaml", _config_source()
)


# Names never span folders; shard numbers are integers.
wildcard_constraints:
    dataset=r"[^/]+",
    method=r"[^/]+",
    archive=r"[^/]+",
    preset=r"[^/]+",
    shard=r"\d+",


RESULTS = config["results_dir"]
# Every results and cache path comes from the one layout (ranksrgan.layout); so do the
# targets `rule all` collects (the same function gives `ranksrgan status` its targets).
LAYOUT = Layout.of(config)
TARGETS = stage_targets(config)


onstart:
    # Snakemake's own lock is per working directory: this one is per results folder.
    from ranksrgan.io.runlock import acquire_results_lock
    from ranksrgan.slurm_fit import check_slurm_partitions

    # before the lock and any submission: a job that fits no partition stops the run here
    check_slurm_partitions(workflow)
    acquire_results_lock(RESULTS)


LOGS = LAYOUT.logs()
ENV = "../envs/ranksrgan.yaml"


def dataset_archive(wildcards):
    """Path of the downloaded archive a dataset is extracted from."""
    archive = config["datasets"][wildcards.dataset]["archive"]
    return LAYOUT.archive(archive, config["archives"][archive]["type"])


data_manifest = LAYOUT.data_manifest
sr_manifest = LAYOUT.sr_manifest
train_generator = LAYOUT.train_generator


def n_shards(dataset, shard_size):
    """Number of shards of a dataset, known from its expected image count in the config."""
    return -(-config["datasets"][dataset]["images"] // shard_size)


def shard_paths(prefix, dataset, shard_size):
    """`{prefix}/{k}.parquet` for every shard k of a dataset (image i is in shard i // size,
    as in ranksrgan.io.shards); the gather rules' inputs of the sr, score and rankdata stages.
    """
    return [f"{prefix}/{k}.parquet" for k in range(n_shards(dataset, shard_size))]


def shq(value):
    """One shell-quoted argument (paths and values in the argument-building functions)."""
    return shlex.quote(str(value))


def gpu_count(wildcards=None):
    """`resources: gpu=` value: 0 on a CPU-only config, else 1 (one GPU job at a time)."""
    return 0 if config["device"] == "cpu" else 1


def stage_processes(stage):
    """Processes of one job of a training stage: config `resources.<stage>.gpus` (default 1),
    one per GPU, or one per CPU share on `device: cpu` (gloo)."""
    return int(RESOURCES[stage].get("gpus", 1))


def stage_gpus(stage):
    """`resources: gpu=` of a training stage's rules: its processes, 0 on a CPU-only config."""
    n = stage_processes(stage)
    return lambda wildcards: 0 if config["device"] == "cpu" else n


def stage_launcher(stage):
    """How the rules of a training stage start `ranksrgan`. The console script for 1 process;
    `torchrun --standalone --nproc-per-node N -m ranksrgan` for N (one node; each process
    gets the stage's per-process `threads` as OMP/MKL threads, not the job's total)."""
    n = stage_processes(stage)
    if n == 1:
        return "ranksrgan"
    t = RESOURCES[stage]["threads"]
    return (
        f"OMP_NUM_THREADS={t} MKL_NUM_THREADS={t}"
        f" torchrun --standalone --nproc-per-node {n} -m ranksrgan"
    )


def cli_flags(flag, values):
    """`--flag v1 --flag v2` for a shell rule, each value shell-quoted."""
    return " ".join(f"{flag} {shlex.quote(str(v))}" for v in values)


# --- What each job asks a scheduler for (threads, mem_mb, runtime in minutes) ---
# Defaults are sized for the paper config (DIV2K/Flickr2K 2040x1356 images, shards of 25);
# config `resources.<stage>` overrides any key (config/README.md "Resources"). A stage with
# `per_image_s` gets runtime + images x per_image_s / 60 minutes for the images of its job.
RESOURCE_DEFAULTS = {
    # localrules (login node): network-bound, Flickr2K.tar is ~20 GB
    "download": {"threads": 1, "mem_mb": 1000, "runtime": 240},
    # extract + mod-crop + MATLAB bicubic LR + 2 PNG writes: ~1 s per 2040x1356 image
    "prepare": {"threads": 1, "mem_mb": 4000, "runtime": 30, "per_image_s": 2.0},
    # one shard of 25 test images (<= 510x339 LR); RRDBNet on a GPU, PNG writes
    "sr": {"threads": 4, "mem_mb": 8000, "runtime": 10, "per_image_s": 10.0},
    # NIQE + Ma + PI + PSNR + SSIM: ~1 s per 510x339 image on one CPU core
    "score": {"threads": 2, "mem_mb": 8000, "runtime": 15, "per_image_s": 10.0},
    # gathers, the demo archive, the synthetic NRQM model, the report
    "light": {"threads": 1, "mem_mb": 2000, "runtime": 30},
    # a GAN preset: 600k iterations at batch 8 x 296 px are ~2 days on one GPU; jobs resume
    # from their checkpoints, so a partition's time limit only means a resubmission.
    # `gpus`: processes per job (torchrun when > 1); threads and mem_mb are per process
    "train": {"threads": 4, "mem_mb": 32000, "runtime": 2880, "gpus": 1},
    # a Ranker: 300-400k iterations at batch 16-32 x 296 px, decoded-image cache in memory
    "ranker": {"threads": 4, "mem_mb": 16000, "runtime": 720, "gpus": 1},
}
RESOURCES = {
    stage: {**spec, **config.get("resources", {}).get(stage, {})}
    for stage, spec in RESOURCE_DEFAULTS.items()
}


def stage_threads(stage):
    """`threads:` of a stage's rules (Snakemake exports it as OMP/MKL_NUM_THREADS): the
    per-process threads x the processes of a multi-GPU training job."""
    return RESOURCES[stage]["threads"] * int(RESOURCES[stage].get("gpus", 1))


def stage_mem_mb(stage):
    """`resources: mem_mb=` of a stage's rules (per process x processes, as threads)."""
    return RESOURCES[stage]["mem_mb"] * int(RESOURCES[stage].get("gpus", 1))


def stage_runtime(stage, images=None):
    """`resources: runtime=` (minutes) of a stage's rules: a callable of the job's wildcards
    when the stage scales with `images(wildcards)` (the images its job handles).
    """
    spec = RESOURCES[stage]
    if images is None or not spec.get("per_image_s"):
        return spec["runtime"]
    return lambda wildcards: spec["runtime"] + math.ceil(
        images(wildcards) * spec["per_image_s"] / 60
    )


def dataset_images(wildcards):
    """Images of the job's `{dataset}` (config datasets.<name>.images)."""
    return config["datasets"][wildcards.dataset]["images"]


def shard_images(section, shard):
    """Images in shard `{<shard>}` of the job's `{dataset}` under `config[section].shard_size`."""

    def images(wildcards):
        size = config[section]["shard_size"]
        images = config["datasets"][wildcards.dataset]["images"]
        left = images - int(wildcards[shard]) * size
        return max(1, min(size, left))

    return images


# --- Downloads: every file goes through one command, `ranksrgan data download` (the one
# cached-file policy: reuse when verified, else download, verify, pin), with the retry
# settings of the config's data.download section. Archives: rule download_archive
# (data.smk); every other downloaded file: rule fetch_file (fetch.smk).


def fetch_cli_args(urls, sha256, size=None, check=None, name_prefix=False):
    """`ranksrgan data download` arguments for one file (all but --out), shell-quoted."""
    dl = config["data"]["download"]
    args = [
        cli_flags("--url", urls),
        f"--sha256 {shq(sha256 or 'none')}",
        f"--size {shq(size)}" if size else "",
        f"--check {shq(check)}" if check else "",
        "--name-prefix" if name_prefix else "",
        f"--retries {shq(dl['retries'])} --backoff-s {shq(dl['backoff_s'])}",
        f"--timeout-s {shq(dl['timeout_s'])}",
    ]
    return " ".join(a for a in args if a)


def _fetch_spec(key, entry, check, name_prefix):
    return {
        "key": key,
        "urls": [entry["url"]] if entry.get("url") else [],
        "sha256": entry.get("sha256"),
        "size": entry.get("size"),
        "check": check,
        "name_prefix": name_prefix,
    }


def fetched_files():
    """Every downloaded file but the archives, path -> the arguments its fetch_file job gets.
    The SR methods' weights (WEIGHT_FILES), the perceptual losses' VGG19 file (VGG19_DOWNLOAD), the
    real NRQM model. One path is one download: config entries that fetch the same file must
    agree (a value one of them leaves out comes from the other). Called once every stage's
    helpers are included (they define the names used here).
    """
    from ranksrgan.errors import RankSRGANError

    wanted = [
        _fetch_spec(f"weights file {name}", entry, "torch", True)
        for name, entry in WEIGHT_FILES.items()
    ]
    paths = [LAYOUT.cached_weights(entry) for entry in WEIGHT_FILES.values()]
    if VGG19_DOWNLOAD:
        wanted.append(_fetch_spec("weights.vgg19", VGG19, "torch", True))
        paths.append(VGG19_DOWNLOAD)
    if NRQM and not NRQM.get("synthetic", False):
        wanted.append(_fetch_spec("metric_models.nrqm", NRQM, "nrqm", False))
        paths.append(NRQM["path"])
    files = {}
    for path, spec in zip(paths, wanted):
        have = files.setdefault(path, dict(spec))
        for k, v in spec.items():
            if k == "key" or v in (None, []):
                continue
            if have[k] in (None, []):
                have[k] = v
            elif have[k] != v:
                raise RankSRGANError(
                    f"config keys '{have['key']}' and '{spec['key']}' both fetch {path}, "
                    f"with different {k}: {have[k]!r} and {v!r}"
                )
    return files


def fetch_file_args(wildcards):
    """`ranksrgan data download` arguments of rule fetch_file's file."""
    spec = FETCHED[wildcards.fetched_file]
    return fetch_cli_args(
        spec["urls"], spec["sha256"], spec["size"], spec["check"], spec["name_prefix"]
    )


def prefetch_targets():
    """Every download of the config (the `prefetch` target, run on a login node): archives
    with a network URL and every file of rule fetch_file (SR weights, the VGG19
    perceptual-loss file, the NRQM model). Local (`file:`) archives, the demo's synthetic NRQM
    model and a random VGG19 are not downloads. Called after every stage's rules are included.
    """
    archives = {spec["archive"] for spec in config["datasets"].values()}
    files = [
        LAYOUT.archive(archive, config["archives"][archive]["type"])
        for archive in ARCHIVE_FILES.values()
        if archive in archives
        and any(not u.startswith("file:") for u in config["archives"][archive]["urls"])
    ]
    files += list(FETCHED)
    return list(dict.fromkeys(files))


def gpu_model_for(gpu):
    """`resources: gpu_model=`: config `resources.gpu_model` on jobs whose `gpu(wildcards)` is
    non-zero, else "" (the SLURM plugin then asks `--gpus=<model>:<n>` or no GPU at all).
    """
    model = config.get("resources", {}).get("gpu_model") or ""
    return lambda wildcards: model if gpu(wildcards) else ""
