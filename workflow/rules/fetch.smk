# The one rule of every downloaded file but the archives (those have download_archive in
# data.smk, the same command): SR weights, the VGG19 perceptual-loss file, the NRQM model.
# Included once every stage's helpers are (fetched_files in common.smk reads them). It runs
# where Snakemake runs (a login node on a cluster): compute jobs never reach the network.
# The log mirrors the file's path under LOGS/fetch/.

FETCHED = fetched_files()


localrules:
    fetch_file,


rule fetch_file:
    output:
        "{fetched_file}",
    log:
        f"{LOGS}/fetch/{{fetched_file}}.log",
    wildcard_constraints:
        fetched_file="|".join(re.escape(f) for f in FETCHED) or "__none__",
    conda:
        ENV
    threads: stage_threads("download")
    resources:
        mem_mb=stage_mem_mb("download"),
        runtime=stage_runtime("download"),
    params:
        args=fetch_file_args,
    shell:
        "ranksrgan data download {params.args} --out {output:q} > {log:q} 2>&1"
