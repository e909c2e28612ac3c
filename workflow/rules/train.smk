# Train stage: one rule per preset in config["train"]["presets"]; each calls
# `ranksrgan train` with explicit paths. A preset's `init` generator and its Ranker (when it
# comes from the Ranker stage or a file) are inputs, so e.g. train_srgan waits for
# train_srresnet. Checkpoints under R/train/{preset}/checkpoint/ are not outputs: a killed or
# failed job resumes from them when rerun.
import os
import shlex

from ranksrgan.train.presets import preset_hash, resolve_preset

TRAIN = config.get("train", {"targets": [], "presets": {}, "runtime": {}})


def train_dir(preset):
    """Output folder of a training preset."""
    return f"{RESULTS}/train/{preset}"


def train_ranker(preset):
    """Ranker weights a preset needs as input ([] for none or a random stand-in)."""
    rank = (resolve_preset(TRAIN["presets"], preset).get("losses") or {}).get(
        "rank"
    ) or {}
    if not rank.get("weight"):
        return []
    ranker = rank["ranker"]
    if ranker["source"] == "stage":
        return [f"{RESULTS}/ranker/{ranker['name']}/model.pth"]
    if ranker["source"] == "path":
        return [ranker["path"]]
    return []


def train_inputs(preset):
    """Named inputs of a preset's rule: manifests, init generator, Ranker."""
    p = resolve_preset(TRAIN["presets"], preset)
    data = p.get("data", {})
    inputs = {"train": [data_manifest(d) for d in data.get("train", [])]}
    if data.get("val"):
        inputs["val"] = data_manifest(data["val"])
    if p.get("init"):
        inputs["init"] = train_generator(p["init"])
    inputs["ranker"] = train_ranker(preset)
    return inputs


def train_args(preset):
    """Optional CLI flags of a preset (validation set, init, Ranker)."""
    ins = train_inputs(preset)
    args = []
    if "val" in ins:
        args.append(f"--val-manifest {shlex.quote(ins['val'])}")
    if "init" in ins:
        args.append(f"--init {shlex.quote(ins['init'])}")
    if ins["ranker"]:
        args.append(f"--ranker {shlex.quote(ins['ranker'][0])}")
    return " ".join(args)


def train_config_hash(preset):
    """Hash of the resolved preset + runtime: a change reruns the preset (params trigger)."""
    return preset_hash(
        {
            "preset": resolve_preset(TRAIN["presets"], preset),
            "runtime": TRAIN["runtime"],
        }
    )


for _preset in TRAIN["presets"]:

    rule:
        name:
            f"train_{_preset}"
        input:
            **train_inputs(_preset),
        output:
            G=train_generator(_preset),
            meta=f"{train_dir(_preset)}/G.json",
            val=f"{train_dir(_preset)}/val.parquet",
            train_log=f"{train_dir(_preset)}/train_log.parquet",
        log:
            f"{LOGS}/train/{_preset}.log",
        conda:
            ENV
        resources:
            gpu=gpu_count,
        params:
            config=_config_source(),
            preset=_preset,
            out=lambda wildcards, output: os.path.dirname(output.G),
            cache=f"{CACHE}/train_patches",
            args=train_args(_preset),
            config_hash=train_config_hash(_preset),
        shell:
            "ranksrgan train --config {params.config:q} --preset {params.preset}"
            " --out {params.out:q} --train-manifest {input.train:q} --cache-dir {params.cache:q}"
            " {params.args} > {log:q} 2>&1"


def train_targets():
    """Exported generators of the presets listed in train.targets."""
    return [train_generator(p) for p in TRAIN.get("targets", [])]
