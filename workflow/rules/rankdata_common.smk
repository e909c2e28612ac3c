# Input/parameter functions of the rank-dataset stage (kept apart from the rules: snakemake --lint).
from ranksrgan.metric_version import METRICS_VERSION as RANKDATA_METRICS_VERSION

RANKDATA = config.get("rankdata") or {}
RANKDATA_NRQM = (config.get("metric_models") or {}).get("nrqm") or {}


def rankdata_shard_input(wildcards):
    """The source dataset's data manifest, each level's sr manifest, the NRQM model (Ma/PI)."""
    spec = RANKDATA[wildcards.name]
    inputs = {"data": data_manifest(wildcards.dataset)}
    for m in spec["methods"]:
        if m != "HR":
            inputs[f"sr_{m}"] = sr_manifest(m, wildcards.dataset)
    if spec["metric"] in ("ma", "pi"):
        inputs["nrqm"] = RANKDATA_NRQM["path"]
    return inputs


def _off(value):
    return "off" if value is None else value


def rankdata_shard_args(wildcards, input):
    """`ranksrgan rankdata shard` arguments, every path and value shell-quoted."""
    spec = RANKDATA[wildcards.name]
    sel = spec["selection"]
    levels = [m if m == "HR" else f"{m}={input[f'sr_{m}']}" for m in spec["methods"]]
    args = [
        f"--dataset {shq(wildcards.dataset)}",
        f"--data-manifest {shq(input.data)}",
        cli_flags("--level", levels),
        f"--metric {shq(spec['metric'])}",
        f"--size {shq(spec['size'])} --stride {shq(spec['stride'])}",
        f"--grid {shq(spec['grid'])}",
        f"--sharpness-min {shq(_off(sel['sharpness_min']))}",
        f"--sharpness-block {shq(sel['sharpness_block'])}",
        f"--niqe-gap-min {shq(_off(sel['niqe_gap_min']))}",
        f"--max-per-image {shq(_off(sel['max_per_image']))}",
        f"--seed {shq(sel['seed'])}",
        f"--shard {shq(wildcards.shard)} --shard-size {shq(spec['shard_size'])}",
        f"--batch {shq(spec.get('batch', 64))}",
        f"--alpha {shq(config['image_policy']['alpha'])}",
        f"--device {shq(config['device'])}",
    ]
    if spec["metric"] in ("ma", "pi"):
        args.append(f"--nrqm-model {shq(input.nrqm)}")
    return " ".join(args)


def rankdata_shards(wildcards):
    """Every shard's patch rows and image table of every source, in shard order."""
    spec = RANKDATA[wildcards.name]
    rows = []
    for d in spec["sources"]:
        rows += shard_paths(
            LAYOUT.rankdata_shard_dir(wildcards.name, d), d, spec["shard_size"]
        )
    return {
        "rows": rows,
        "images": [r.removesuffix(".parquet") + ".images.parquet" for r in rows],
    }


def rankdata_gather_args(wildcards, input):
    """`ranksrgan rankdata gather` arguments: the shards and the split (rule, fraction, seed,
    one --group per split.groups entry)."""
    split = RANKDATA[wildcards.name]["split"]
    return " ".join(
        [
            cli_flags("--shard", input.rows),
            f"--split {shq(split['by'])} --val-fraction {shq(split['val_fraction'])}",
            f"--seed {shq(split['seed'])}",
            cli_flags("--group", [",".join(g) for g in split.get("groups") or []]),
        ]
    ).strip()


def rankdata_targets():
    """Index, image table and stats of every configured rank dataset."""
    return TARGETS["rankdata"]


def rankdata_shard_images(wildcards):
    """Source images in the job's shard (for the runtime it asks a scheduler for)."""
    size = RANKDATA[wildcards.name]["shard_size"]
    left = config["datasets"][wildcards.dataset]["images"] - int(wildcards.shard) * size
    return max(1, min(size, left))
