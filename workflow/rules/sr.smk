# SR stage: one job per dataset x method x shard, then a gather per dataset x method.
# Rules only translate config into explicit `ranksrgan sr ...` arguments (helpers: sr_common.smk).


include: "sr_common.smk"


# The weights of a method are fetched by rule fetch_file (fetch.smk).


rule sr_shard:
    input:
        manifest=lambda wc: data_manifest(wc.dataset),
        weights=sr_weights_input,
    output:
        LAYOUT.sr_shard("{method}", "{dataset}", "{k}"),
    log:
        f"{LOGS}/sr/{{method}}/{{dataset}}/{{k}}.log",
    wildcard_constraints:
        k=r"\d+",
    conda:
        ENV
    threads: stage_threads("sr")
    resources:
        mem_mb=stage_mem_mb("sr"),
        runtime=stage_runtime("sr", shard_images("sr", "k")),
        gpu=sr_gpu,
        gpu_model=gpu_model_for(sr_gpu),
    params:
        out_dir=lambda wc: LAYOUT.sr_dir(wc.method, wc.dataset),
        args=sr_run_args,
    shell:
        "ranksrgan sr run --manifest {input.manifest:q} --method {wildcards.method}"
        " --shard {wildcards.k} --out-dir {params.out_dir:q} --shard-out {output:q}"
        " {params.args} > {log:q} 2>&1"


rule sr_gather:
    input:
        sr_shards,
    output:
        LAYOUT.sr_manifest("{method}", "{dataset}"),
    log:
        f"{LOGS}/sr/{{method}}/{{dataset}}/gather.log",
    conda:
        ENV
    threads: stage_threads("light")
    resources:
        mem_mb=stage_mem_mb("light"),
        runtime=stage_runtime("light"),
    params:
        shards=lambda wc, input: cli_flags("--shard", input),
        images=lambda wc: config["datasets"][wc.dataset]["images"],
    shell:
        "ranksrgan sr gather {params.shards} --out {output:q} --images {params.images}"
        " > {log:q} 2>&1"
