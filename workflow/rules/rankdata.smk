# Rank-dataset stage (the paper's stage 1): per named dataset `rankdata.<name>`, one job per
# source dataset x shard (positions, selection, labels), then one gather per name.
# Rules only translate config into explicit `ranksrgan rankdata ...` arguments
# (helpers: rankdata_common.smk).


include: "rankdata_common.smk"


rule rankdata_shard:
    input:
        unpack(rankdata_shard_input),
    output:
        rows=LAYOUT.rankdata_shard("{name}", "{dataset}", "{shard}"),
        images=LAYOUT.rankdata_shard("{name}", "{dataset}", "{shard}", images=True),
    log:
        f"{LOGS}/rankdata/{{name}}/{{dataset}}/{{shard}}.log",
    wildcard_constraints:
        name=r"[^/]+",
        shard=r"\d+",
    conda:
        ENV
    # sized like a score shard (NIQE/Ma/PI on every patch); config resources.score overrides
    threads: stage_threads("score")
    resources:
        mem_mb=stage_mem_mb("score"),
        runtime=stage_runtime("score", rankdata_shard_images),
        gpu=gpu_count,
        gpu_model=gpu_model_for(gpu_count),
    params:
        args=rankdata_shard_args,
        # not passed on: Snakemake's params trigger relabels when metric numbers change
        metrics_version=RANKDATA_METRICS_VERSION,
    shell:
        "ranksrgan rankdata shard {params.args} --out {output.rows:q} > {log:q} 2>&1"


rule rankdata_gather:
    input:
        unpack(rankdata_shards),
    output:
        index=LAYOUT.rank_index("{name}"),
        images=LAYOUT.rankdata_file("{name}", "images.parquet"),
        stats=LAYOUT.rankdata_file("{name}", "stats.json"),
    log:
        f"{LOGS}/rankdata/{{name}}/gather.log",
    wildcard_constraints:
        name=r"[^/]+",
    conda:
        ENV
    threads: stage_threads("light")
    resources:
        mem_mb=stage_mem_mb("light"),
        runtime=stage_runtime("light"),
    params:
        args=rankdata_gather_args,
    shell:
        "ranksrgan rankdata gather {params.args} --out {output.index:q}"
        " --images {output.images:q} --stats {output.stats:q} > {log:q} 2>&1"
