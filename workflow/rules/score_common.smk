# Input/parameter functions of the score stage (kept apart from the rules: snakemake --lint).
from ranksrgan.errors import RankSRGANError
from ranksrgan.metrics import VERSION as METRICS_VERSION

SCORE = config.get("score", {})
NRQM = config.get("metric_models", {}).get("nrqm", {})


def _check_score_config():
    """One-line error when Ma/PI are asked for without a model (references: ranksrgan.config)."""
    if _needs_nrqm() and not NRQM:
        raise RankSRGANError(
            "config key 'metric_models.nrqm' (missing key): ma/pi need the NRQM model"
        )


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
    args = [
        f"--dataset {wildcards.dataset}",
        f"--method {wildcards.method}",
        f"--data-manifest {input.data}",
        f"--shard {wildcards.shard} --shard-size {SCORE['shard_size']}",
        "--metrics " + " ".join(SCORE["metrics"]),
        f"--colour {SCORE['colour']} --shave {SCORE['shave']}",
        f"--alpha {config['image_policy']['alpha']}",
        f"--device {config['device']}",
    ]
    if wildcards.method != "HR":
        args.append(f"--sr-manifest {input.sr}")
    if not SCORE.get("quantize", True):
        args.append("--no-quantize")
    if _needs_nrqm():
        args.append(f"--nrqm-model {input.nrqm}")
    return " ".join(args)


def score_shards(wildcards):
    n = n_shards(wildcards.dataset, SCORE["shard_size"])
    return [
        f"{RESULTS}/scores/{wildcards.dataset}/{wildcards.method}/shards/{k}.parquet"
        for k in range(n)
    ]


def score_targets():
    """Gathered score tables of every configured dataset x method."""
    return [
        f"{RESULTS}/scores/{d}/{m}.parquet"
        for d in SCORE.get("datasets", [])
        for m in SCORE.get("methods", [])
    ]


_check_score_config()
