# Ranker stage (the paper's stage 2): one rule per `ranker.<name>`, training a Ranker on the
# rank index R/rankdata/{rankdata}/index.parquet into R/ranker/{name}/ (model.pth, model.json,
# eval.parquet, eval_summary.json). Every value of the section is passed as an explicit
# argument; unset optimiser values come from the named schedule. Checkpoints under
# R/ranker/{name}/checkpoint/ are not outputs: a killed job resumes from them when rerun.
import json

from ranksrgan.budget import iteration_scale
from ranksrgan.ranker.options import resolved_section

RANKER = config.get("ranker") or {}

# config key -> `ranksrgan ranker train` flag (values shell-quoted; None = not set)
_RANKER_FLAGS = {
    "arch": "--arch",
    "loss": "--loss",
    "margin": "--margin",
    "clamp": "--clamp",
    "schedule": "--schedule",
    "lr": "--lr",
    "weight_decay": "--weight-decay",
    "batch_size": "--batch-size",
    "gamma": "--gamma",
    "iterations": "--iterations",
    "patch": "--patch",
    "seed": "--seed",
    "checkpoint_every": "--checkpoint-every",
    "log_every": "--log-every",
    "workers": "--workers",
    "precision": "--precision",
    # BatchNorm replicas: a multiple of resources.ranker.gpus (ranksrgan.fit.dist)
    "bn_replicas": "--bn-replicas",
}


ranker_dir = LAYOUT.ranker_dir


def ranker_index(name):
    """The rank index a Ranker trains on."""
    return LAYOUT.rank_index(RANKER[name]["rankdata"])


def ranker_args(name):
    """The section's values as `ranksrgan ranker train` arguments (each shell-quoted)."""
    # shortened by train.iteration_scale: iterations, milestones, intervals (ranksrgan.budget)
    spec = resolved_section(RANKER[name], iteration_scale(config))
    args = [
        f"{flag} {shq(spec[key])}"
        for key, flag in _RANKER_FLAGS.items()
        if spec.get(key) is not None
    ]
    args.append(f"--arch-options {shq(json.dumps(spec.get('arch_options', {})))}")
    if "milestones" in spec:
        args.append(" ".join(["--milestones", *(shq(m) for m in spec["milestones"])]))
    if spec.get("augment"):
        args.append("--augment")
    if "channels_last" in spec:
        args.append(
            "--channels-last" if spec["channels_last"] else "--no-channels-last"
        )
    args.append(cli_flags("--label", spec.get("labels", [])))
    args.append(f"--device {shq(config['device'])}")
    return " ".join(a for a in args if a)


for _ranker in RANKER:

    rule:
        name:
            f"ranker_{_ranker}"
        input:
            index=ranker_index(_ranker),
        output:
            model=f"{ranker_dir(_ranker)}/model.pth",
            meta=f"{ranker_dir(_ranker)}/model.json",
            eval=f"{ranker_dir(_ranker)}/eval.parquet",
            summary=f"{ranker_dir(_ranker)}/eval_summary.json",
            train_log=f"{ranker_dir(_ranker)}/train_log.parquet",
        log:
            f"{LOGS}/ranker/{_ranker}.log",
        conda:
            ENV
        threads: stage_threads("ranker")
        resources:
            mem_mb=stage_mem_mb("ranker"),
            runtime=stage_runtime("ranker"),
            gpu=stage_gpus("ranker"),
            gpu_model=gpu_model_for(stage_gpus("ranker")),
        params:
            name=_ranker,
            out=lambda wildcards, output: os.path.dirname(output.model),
            cache=LAYOUT.ranker_image_cache(),
            args=ranker_args(_ranker),
            launch=stage_launcher("ranker"),
        shell:
            "{params.launch} ranker train --index {input.index:q} --out {params.out:q}"
            " --name {params.name:q} --cache-dir {params.cache:q} {params.args} > {log:q} 2>&1"


def ranker_targets():
    """Weights and evaluation of every configured Ranker."""
    return TARGETS["ranker"]
