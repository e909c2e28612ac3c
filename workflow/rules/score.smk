# score stage: NIQE / Ma / PI / PSNR / SSIM per dataset x method, sharded, then gathered.
# Rules only translate config into explicit `ranksrgan score ...` arguments.
from ranksrgan.errors import RankSRGANError

SCORE = config.get("score", {})
NRQM = config.get("metric_models", {}).get("nrqm", {})


def _check_score_config():
    """One-line errors for references between sections (the schema cannot say them)."""
    for d in SCORE.get("datasets", []):
        if d not in config["datasets"]:
            raise RankSRGANError(f"config key 'score.datasets': unknown dataset '{d}'")
    for m in SCORE.get("methods", []):
        if m != "HR" and m not in config.get("methods", {}):
            raise RankSRGANError(f"config key 'score.methods': unknown method '{m}'")
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


if NRQM.get("synthetic", False):

    rule score_nrqm_synthetic:
        output:
            NRQM.get("path", f"{CACHE}/metric_models/NRQM_model_SYNTHETIC.mat"),
        log:
            f"{LOGS}/score/nrqm_synthetic.log",
        conda:
            ENV
        shell:
            "ranksrgan score synthetic-nrqm --out {output} --seed 0 > {log} 2>&1"

elif NRQM:

    rule score_nrqm_fetch:
        output:
            NRQM["path"],
        log:
            f"{LOGS}/score/nrqm_fetch.log",
        conda:
            ENV
        params:
            url=f"--url {NRQM['url']}" if NRQM.get("url") else "",
            sha=f"--sha256 {NRQM['sha256']}" if NRQM.get("sha256") else "",
        shell:
            "ranksrgan score nrqm-model --path {output} {params.url} {params.sha} > {log} 2>&1"


rule score_shard:
    input:
        unpack(score_shard_input),
    output:
        f"{RESULTS}/scores/{{dataset}}/{{method}}/shards/{{shard}}.parquet",
    log:
        f"{LOGS}/score/{{dataset}}/{{method}}/{{shard}}.log",
    wildcard_constraints:
        shard=r"\d+",
    conda:
        ENV
    resources:
        gpu=gpu_count,
    params:
        args=score_shard_args,
    shell:
        "ranksrgan score run {params.args} --out {output} > {log} 2>&1"


rule score_gather:
    input:
        score_shards,
    output:
        f"{RESULTS}/scores/{{dataset}}/{{method}}.parquet",
    log:
        f"{LOGS}/score/{{dataset}}/{{method}}.gather.log",
    conda:
        ENV
    shell:
        "ranksrgan score gather --out {output} {input} > {log} 2>&1"
