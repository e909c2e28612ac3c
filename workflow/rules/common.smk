# Config validation, paths and input functions shared by every stage's rules.
import os
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
from snakemake.exceptions import WorkflowError  # noqa: E402


def _config_source():
    files = [str(f) for f in getattr(workflow, "configfiles", []) or []]
    return files[-1] if files else "config/config.yaml"


if not config:
    raise WorkflowError(
        "no config given: add --configfile config/config.yaml (paper) or config/demo.yaml (demo)"
    )

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


onstart:
    # Snakemake's own lock is per working directory: this one is per results folder.
    from ranksrgan.io.runlock import acquire_results_lock

    acquire_results_lock(RESULTS)


CACHE = config["cache_dir"]
LOGS = f"{RESULTS}/logs"
ENV = "../envs/ranksrgan.yaml"


def dataset_archive(wildcards):
    """Path of the downloaded archive a dataset is extracted from."""
    archive = config["datasets"][wildcards.dataset]["archive"]
    return f"{CACHE}/archives/{archive}.{config['archives'][archive]['type']}"


def data_manifest(dataset):
    """The data stage's manifest of one dataset (HR and LR paths per image)."""
    return f"{RESULTS}/data/{dataset}/manifest.parquet"


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


def sr_manifest(method, dataset):
    """The sr stage's gathered manifest of one method on one dataset."""
    return f"{RESULTS}/sr/{method}/{dataset}/manifest.parquet"


def train_generator(preset):
    """Exported generator weights (authors' key layout) of a training preset."""
    return f"{RESULTS}/train/{preset}/G.pth"


def gpu_count(wildcards=None):
    """`resources: gpu=` value: 0 on a CPU-only config, else 1 (one GPU job at a time)."""
    return 0 if config["device"] == "cpu" else 1


def cli_flags(flag, values):
    """`--flag v1 --flag v2` for a shell rule, each value shell-quoted."""
    return " ".join(f"{flag} {shlex.quote(str(v))}" for v in values)
