# Input/parameter functions of the score stage (kept apart from the rules: snakemake --lint).
from ranksrgan.metric_version import METRICS_VERSION

SCORE = config.get("score", {})
NRQM = config.get("metric_models", {}).get("nrqm", {})


def _needs_nrqm():
    return bool({"ma", "nrqm", "pi"} & set(SCORE.get("metrics", [])))


def score_shard_input(wildcards):
    inputs = {"data": data_manifest(wildcards.dataset)}
    if wildcards.method != "HR":
        inputs["sr"] = sr_manifest(wildcards.method, wildcards.dataset)
    if _needs_nrqm():
        inputs["nrqm"] = NRQM["path"]
    return inputs


def score_shard_args(wildcards, input):
    """`ranksrgan score run` arguments from the config, every path and value shell-quoted."""
    args = [
        f"--dataset {shq(wildcards.dataset)}",
        f"--method {shq(wildcards.method)}",
        f"--data-manifest {shq(input.data)}",
        f"--shard {shq(wildcards.shard)} --shard-size {shq(SCORE['shard_size'])}",
        "--metrics " + " ".join(shq(m) for m in SCORE["metrics"]),
        f"--colour {shq(SCORE['colour'])} --shave {shq(SCORE['shave'])}",
        f"--alpha {shq(config['image_policy']['alpha'])}",
        f"--device {shq(config['device'])}",
    ]
    if wildcards.method != "HR":
        args.append(f"--sr-manifest {shq(input.sr)}")
    if not SCORE.get("quantize", True):
        args.append("--no-quantize")
    if _needs_nrqm():
        args.append(f"--nrqm-model {shq(input.nrqm)}")
    return " ".join(args)


def score_shards(wildcards):
    """Score shards of a dataset x method, in shard order (the gather's inputs)."""
    return shard_paths(
        LAYOUT.score_shard_dir(wildcards.dataset, wildcards.method),
        wildcards.dataset,
        SCORE["shard_size"],
    )


def score_targets():
    """Gathered score tables of every configured dataset x method."""
    return TARGETS["score"]
