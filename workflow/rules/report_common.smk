# Report stage: config values and input functions (rules in report.smk).
import json
import os

REPORT = config.get("report") or {}


def _stage_names(targets_fn, stage):
    """Names {name} of R/{stage}/{name}/... among another stage's targets ([] if absent)."""
    fn = globals().get(targets_fn)
    prefix = f"{RESULTS}/{stage}/"
    targets = [str(t) for t in fn()] if fn else []
    return sorted(
        {t[len(prefix) :].split("/")[0] for t in targets if t.startswith(prefix)}
    )


def report_inputs(wildcards=None):
    """Named input lists of the report rule (an empty list = that part is "not run")."""
    score = config.get("score") or {}
    methods, datasets = score.get("methods", []), score.get("datasets", [])
    train = (config.get("train") or {}).get("targets", [])
    return {
        "paper": REPORT["paper_results"],
        "scores": [
            f"{RESULTS}/scores/{d}/{m}.parquet" for d in datasets for m in methods
        ],
        "train": [f"{RESULTS}/train/{p}/G.json" for p in train],
        "data": [data_manifest(d) for d in datasets],
        "sr": [sr_manifest(m, d) for d in datasets for m in methods if m != "HR"],
        "rankdata": [
            f"{RESULTS}/rankdata/{n}/index.parquet"
            for n in _stage_names("rankdata_targets", "rankdata")
        ],
        "rankers": [
            f"{RESULTS}/ranker/{n}/eval.parquet"
            for n in _stage_names("ranker_targets", "ranker")
        ],
    }


def report_targets():
    """The report page, when the config has a report section."""
    return [f"{RESULTS}/report/index.html"] if REPORT else []
