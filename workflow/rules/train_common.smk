# Train stage helpers (resolved presets, inputs, arguments, the VGG19 file) for rules/train.smk.
import json
import os
import shlex

from ranksrgan.budget import iteration_scale, scale_schedule
from ranksrgan.presets import needs_vgg19, rank_terms, resolve_preset, with_stage_ranker

TRAIN = config.get("train", {"targets": [], "presets": {}, "runtime": {}})
VGG19 = (config.get("weights") or {}).get("vgg19")


def train_needs_vgg19(preset):
    """Whether a preset's perceptual loss uses the ImageNet VGG19 file (not the random one)."""
    return needs_vgg19(TRAIN["presets"], preset)


# (a missing weights.vgg19 is refused when the config loads: ranksrgan.config)
VGG19_PRESETS = [p for p in TRAIN["presets"] if train_needs_vgg19(p)]
# the VGG19 file: a local `path`, or where rule fetch_file puts the `url` download
VGG19_FILE = LAYOUT.cached_weights(VGG19) if VGG19_PRESETS else None
VGG19_DOWNLOAD = VGG19_FILE if VGG19_PRESETS and not VGG19.get("path") else None


train_dir = LAYOUT.train_dir


def train_ranker(preset):
    """Ranker weights a preset needs as inputs, one per rank-content term that loads a file
    (stage or path), in term order ([] for none or random stand-ins)."""
    files = []
    for term in rank_terms(resolve_preset(TRAIN["presets"], preset)):
        ranker = term["ranker"]
        if ranker["source"] == "stage":
            files.append(LAYOUT.ranker_model(ranker["name"]))
        elif ranker["source"] == "path":
            files.append(ranker["path"])
    return files


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
    if train_needs_vgg19(preset):
        inputs["vgg19"] = VGG19_FILE
    return inputs


def train_args(preset):
    """Optional CLI flags of a preset (validation set, init, Ranker)."""
    ins = train_inputs(preset)
    args = []
    if "val" in ins:
        args.append(f"--val-manifest {shlex.quote(ins['val'])}")
    if "init" in ins:
        args.append(f"--init {shlex.quote(ins['init'])}")
    args += [f"--ranker {shlex.quote(r)}" for r in ins["ranker"]]
    if "vgg19" in ins:
        args.append(f"--vgg19 {shlex.quote(ins['vgg19'])}")
    args.append(f"--device {shlex.quote(config['device'])}")
    return " ".join(args)


def train_preset_json(preset):
    """The resolved preset + runtime as the job's --preset-json (a change reruns the preset:
    params trigger; the same values give G.json's config_sha256)."""
    return json.dumps(
        {
            # shortened by train.iteration_scale (ranksrgan.budget) when set
            "preset": scale_schedule(
                with_stage_ranker(
                    resolve_preset(TRAIN["presets"], preset), config.get("ranker") or {}
                ),
                iteration_scale(config),
            ),
            "runtime": TRAIN["runtime"],
        },
        sort_keys=True,
    )


def train_ema_outputs(preset):
    """`G_ema.pth` + `G_ema.json` of a preset with `ema_decay` (its EMA generator), else {}."""
    if not resolve_preset(TRAIN["presets"], preset).get("ema_decay"):
        return {}
    ema = train_generator(preset, "ema")
    return {"G_ema": ema, "meta_ema": ema.removesuffix(".pth") + ".json"}


def train_targets():
    """Exported generators of the presets listed in train.targets."""
    return TARGETS["train"]
