# SR stage: one job per dataset x method x shard, then a gather per dataset x method.
# Rules only translate config into explicit `ranksrgan sr ...` arguments (helpers: sr_common.smk).


include: "sr_common.smk"


# Weight downloads run where Snakemake runs (a login node on a cluster).
localrules:
    sr_fetch_weights,


rule sr_fetch_weights:
    output:
        f"{CACHE}/weights/{{weight_file}}",
    log:
        f"{LOGS}/sr/fetch_{{weight_file}}.log",
    wildcard_constraints:
        weight_file="|".join(re.escape(f) for f in WEIGHT_FILES) or "__none__",
    conda:
        ENV
    threads: stage_threads("download")
    resources:
        mem_mb=stage_mem_mb("download"),
        runtime=stage_runtime("download"),
    params:
        url=lambda wc: WEIGHT_FILES[wc.weight_file]["url"],
        sha256=lambda wc: WEIGHT_FILES[wc.weight_file]["sha256"] or "none",
        cache=lambda wc, output: str(Path(output[0]).parent.parent),
    shell:
        "ranksrgan sr fetch-weights --url {params.url:q} --sha256 {params.sha256}"
        " --cache-dir {params.cache:q} --out {output:q} > {log:q} 2>&1"


rule sr_shard:
    input:
        manifest=lambda wc: data_manifest(wc.dataset),
        weights=sr_weights_input,
    output:
        LAYOUT.sr_shard_dir("{method}", "{dataset}") + "/{k}.parquet",
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
