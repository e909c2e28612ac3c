# Data stage: download + verify archives, extract image sets, mod-crop, x4 MATLAB bicubic LR.
# Rules only translate config into explicit `ranksrgan data ...` arguments (data_common.smk).


include: "data_common.smk"


# Downloads run where Snakemake runs (a login node on a cluster): compute jobs need no network.
localrules:
    download_archive,


rule download_archive:
    input:
        archive_local_sources,
    output:
        LAYOUT.archive_file("{archive_file}"),
    log:
        f"{LOGS}/data/download/{{archive_file}}.log",
    wildcard_constraints:
        archive_file="|".join(re.escape(f) for f in ARCHIVE_FILES),
    conda:
        ENV
    threads: stage_threads("download")
    resources:
        mem_mb=stage_mem_mb("download"),
        runtime=stage_runtime("download"),
    params:
        args=download_args,
    shell:
        "ranksrgan data download {params.args} --out {output:q} > {log:q} 2>&1"


rule prepare_dataset:
    input:
        dataset_archive,
    output:
        data_manifest("{dataset}"),
    log:
        f"{LOGS}/data/prepare/{{dataset}}.log",
    wildcard_constraints:
        dataset="|".join(re.escape(d) for d in config["datasets"]),
    conda:
        ENV
    threads: stage_threads("prepare")
    resources:
        mem_mb=stage_mem_mb("prepare"),
        runtime=stage_runtime("prepare", dataset_images),
    params:
        args=prepare_args,
        out_dir=lambda wc: LAYOUT.data_dir(wc.dataset),
    shell:
        "ranksrgan data prepare --dataset {wildcards.dataset} --archive {input:q}"
        " --out-dir {params.out_dir:q} --manifest {output:q} {params.args} > {log:q} 2>&1"


if "demo_source" in config:

    rule demo_source:
        output:
            config["demo_source"]["output"],
        log:
            f"{LOGS}/data/demo_source.log",
        conda:
            ENV
        threads: stage_threads("light")
        resources:
            mem_mb=stage_mem_mb("light"),
            runtime=stage_runtime("light"),
        params:
            args=demo_source_args(),
        shell:
            "ranksrgan data demo-source {params.args} --out {output:q} > {log:q} 2>&1"
