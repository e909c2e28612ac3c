# Report stage: the paper's tables and figures with our numbers beside the published ones,
# and one page R/report/index.html (+ index.md). Inputs are only what the config enables:
# the score Parquets of score.methods x score.datasets, the train targets' G.json (val.parquet
# is read beside it), and the rank-dataset / Ranker outputs when those stages' targets exist.
# A paper cell whose inputs were not part of the run reads "not run".
include: "report_common.smk"


if REPORT:

    rule report_build:
        input:
            **report_inputs(),
        output:
            html=LAYOUT.report_page(),
            md=LAYOUT.report_markdown(),
        log:
            f"{LOGS}/report/build.log",
        conda:
            ENV
        threads: stage_threads("light")
        resources:
            mem_mb=stage_mem_mb("light"),
            runtime=stage_runtime("light"),
        params:
            # the resolved config (every --configfile and --config applied), not a file name
            config_json=REPORT_CONFIG_JSON,
            out=lambda wildcards, output: os.path.dirname(output.html),
            # not passed on: a change of the report section rebuilds the report
            settings=json.dumps(REPORT, sort_keys=True),
        shell:
            "ranksrgan report build --config-json {params.config_json:q} --paper {input.paper:q}"
            " --out {params.out:q} --scores {input.scores:q} --train {input.train:q}"
            " --data-manifests {input.data:q} --sr-manifests {input.sr:q}"
            " --rankdata {input.rankdata:q} --rankers {input.rankers:q} > {log:q} 2>&1"
