# score stage: NIQE / Ma / PI / PSNR / SSIM per dataset x method, sharded, then gathered.
# Rules only translate config into explicit `ranksrgan score ...` arguments.


include: "score_common.smk"


if NRQM.get("synthetic", False):

    rule score_nrqm_synthetic:
        output:
            NRQM.get("path", LAYOUT.metric_model("NRQM_model_SYNTHETIC.mat")),
        log:
            f"{LOGS}/score/nrqm_synthetic.log",
        conda:
            ENV
        threads: stage_threads("light")
        resources:
            mem_mb=stage_mem_mb("light"),
            runtime=stage_runtime("light"),
        shell:
            "ranksrgan score synthetic-nrqm --out {output:q} --seed 0 > {log:q} 2>&1"


# The real NRQM model (metric_models.nrqm.url) is fetched by rule fetch_file (fetch.smk).


rule score_shard:
    input:
        unpack(score_shard_input),
    output:
        LAYOUT.score_shard("{dataset}", "{method}", "{shard}"),
    log:
        f"{LOGS}/score/{{dataset}}/{{method}}/{{shard}}.log",
    wildcard_constraints:
        shard=r"\d+",
    conda:
        ENV
    threads: stage_threads("score")
    resources:
        mem_mb=stage_mem_mb("score"),
        runtime=stage_runtime("score", shard_images("score", "shard")),
        gpu=gpu_count,
        gpu_model=gpu_model_for(gpu_count),
    params:
        args=score_shard_args,
        # not passed on: recorded so that Snakemake's params trigger re-scores when the
        # metric implementations change their numbers (ranksrgan.metrics.VERSION).
        metrics_version=METRICS_VERSION,
    shell:
        "ranksrgan score run {params.args} --out {output:q} > {log:q} 2>&1"


rule score_gather:
    input:
        score_shards,
    output:
        LAYOUT.score_table("{dataset}", "{method}"),
    log:
        f"{LOGS}/score/{{dataset}}/{{method}}.gather.log",
    conda:
        ENV
    threads: stage_threads("light")
    resources:
        mem_mb=stage_mem_mb("light"),
        runtime=stage_runtime("light"),
    shell:
        "ranksrgan score gather --out {output:q} {input:q} > {log:q} 2>&1"
