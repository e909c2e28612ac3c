# SR stage helpers (config checks, input functions, arguments) for rules/sr.smk.
import json

from ranksrgan.config import method_network, weights_choice
from ranksrgan.errors import RankSRGANError

SR = config.get("sr", {})
SR_METHODS = config.get("methods", {})
WEIGHTS = config.get("weights", {})


# method -> (weights name, entry), or (None, None) = the train preset's G.pth; decided once
# when the DAG loads (the first present of a weights list: ranksrgan.config.weights_choice).
# A method whose only weights are absent fails (one line) when a job needs it, not before.
WEIGHTS_CHOICE = {}


def _weights_entry(method):
    """The method's weights registry entry (dict) or None (bicubic / trained)."""
    if SR_METHODS[method]["kind"] != "network":
        return None
    if method not in WEIGHTS_CHOICE:
        WEIGHTS_CHOICE[method] = weights_choice(config, method)
    return WEIGHTS_CHOICE[method][1]


def _present_entry(method):
    """As _weights_entry, None when the method's weights are absent (for WEIGHT_FILES)."""
    try:
        return _weights_entry(method)
    except RankSRGANError:
        return None


# fetched file name -> registry entry (downloaded by the fetch_file rule; see fetched_files)
WEIGHT_FILES = {
    Path(LAYOUT.cached_weights(e)).name: e
    for e in [_present_entry(m) for m in SR_METHODS]
    if e and e.get("url")
}


def sr_weights_input(wildcards):
    """The weights file a method needs: fetched, local, or the training stage's G.pth."""
    spec = SR_METHODS[wildcards.method]
    if spec["kind"] == "bicubic":
        return []
    entry = _weights_entry(wildcards.method)
    if entry is None:
        return [train_generator(spec["train_preset"], spec.get("weights_variant"))]
    return [LAYOUT.cached_weights(entry)]


def sr_gpu(wildcards):
    """Network methods hold a GPU unless the config runs on CPU; bicubic never does."""
    return (
        0 if SR_METHODS[wildcards.method]["kind"] == "bicubic" else gpu_count(wildcards)
    )


def sr_run_args(wildcards, input):
    """`ranksrgan sr run` arguments from the config, every value shell-quoted."""
    spec = SR_METHODS[wildcards.method]
    args = [
        f"--shard-size {shq(SR['shard_size'])}",
        f"--device {shq(config['device'])}",
        f"--scale {shq(config['scale'])}",
    ]
    if spec["kind"] == "bicubic":
        return " ".join(["--kind bicubic"] + args)
    entry = _weights_entry(wildcards.method) or {}
    arch, arch_options = method_network(config, wildcards.method)
    args += [
        "--kind network",
        f"--arch {shq(arch)}",
        f"--arch-options {shq(json.dumps(arch_options))}",
        f"--weights {shq(input.weights)}",
        f"--weights-sha256 {shq(entry.get('sha256') or 'none')}",
        f"--layout {shq(entry.get('layout', 'auto'))}",
        f"--param-key {shq(entry.get('param_key', 'auto'))}",
        f"--precision {shq(SR['precision'])}",
        f"--tile {shq(SR['tile'])} --tile-pad {shq(SR['tile_pad'])}",
    ]
    if SR["channels_last"]:
        args.append("--channels-last")
    return " ".join(args)


def sr_shards(wildcards):
    """Shard manifests of a method on a dataset, in shard order (the gather's inputs)."""
    return shard_paths(
        LAYOUT.sr_shard_dir(wildcards.method, wildcards.dataset),
        wildcards.dataset,
        SR["shard_size"],
    )


def sr_targets():
    return TARGETS["sr"]
