# One target per paper table: `snakemake --cores all --resources gpu=1 --configfile
# config/config.yaml table4` runs exactly the jobs Table 4's rows need (shared experiments run
# once) and a report page of that run, R/report/tables/table4/index.html. `all` = everything.
# Which files a table needs: ranksrgan.table_plan (from the report section's mapping).
from ranksrgan.paper_results import load as load_paper_results
from ranksrgan.paper_results import resolve_path as paper_results_path
from ranksrgan.table_plan import table_inputs, table_names

PAPER = (
    load_paper_results(paper_results_path(REPORT["paper_results"])) if REPORT else None
)
TABLES = table_names(PAPER) if PAPER else []


if TABLES:

    rule report_table:
        input:
            unpack(report_table_inputs),
        output:
            html=LAYOUT.table_report("{table}"),
            md=LAYOUT.table_report("{table}").removesuffix(".html") + ".md",
        log:
            f"{LOGS}/report/table_{{table}}.log",
        wildcard_constraints:
            table="|".join(TABLES),
        conda:
            ENV
        threads: stage_threads("light")
        resources:
            mem_mb=stage_mem_mb("light"),
            runtime=stage_runtime("light"),
        params:
            config_json=REPORT_CONFIG_JSON,
            out=lambda wildcards, output: os.path.dirname(output.html),
        shell:
            "ranksrgan report build --config-json {params.config_json:q} --paper {input.paper:q}"
            " --out {params.out:q} --tables {wildcards.table:q} --scores {input.scores:q}"
            " --data-manifests {input.data:q} --sr-manifests {input.sr:q} --train {input.train:q}"
            " --rankdata {input.rankdata:q} --rankers {input.rankers:q} > {log:q} 2>&1"


for _table in TABLES:

    rule:
        name:
            _table
        input:
            LAYOUT.table_report(_table),
        localrule: True
