# Report stage: config values and input functions (rules in report.smk).
import json
import os

REPORT = config.get("report") or {}
# The resolved config the report job gets: every section it reads (the tables' mapping, the
# "setup vs paper" keys, provenance), not `resources:`, so that resizing jobs for a
# scheduler does not rerun the report (params are a rerun trigger).
REPORT_CONFIG_JSON = json.dumps(
    {k: v for k, v in config.items() if k != "resources"}, sort_keys=True
)


def report_inputs(wildcards=None):
    """Named input lists of the report rule (an empty list = that part is "not run")."""
    score = config.get("score") or {}
    methods, datasets = score.get("methods", []), score.get("datasets", [])
    train = (config.get("train") or {}).get("targets", [])
    return {
        "paper": REPORT["paper_results"],
        "scores": TARGETS["score"],
        "train": [LAYOUT.train_meta(p) for p in train],
        "data": [data_manifest(d) for d in datasets],
        "sr": [sr_manifest(m, d) for d in datasets for m in methods if m != "HR"],
        "rankdata": [
            LAYOUT.rank_index(n) for n in sorted(config.get("rankdata") or {})
        ],
        "rankers": [LAYOUT.ranker_eval(n) for n in sorted(config.get("ranker") or {})],
    }


def report_targets():
    """The report page, when the config has a report section."""
    return TARGETS["report"]


def report_table_inputs(wildcards):
    """The report's inputs for one table (score tables, manifests, Ranker evals, indexes)."""
    return {
        "paper": REPORT["paper_results"],
        **table_inputs(config, PAPER, wildcards.table),
    }
