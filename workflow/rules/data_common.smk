# Input/parameter functions of the data stage (kept apart from the rules: snakemake --lint).
import re

# "{archive}.{type}" file name -> archive name (types may contain a dot: tar.gz).
ARCHIVE_FILES = {f"{a}.{spec['type']}": a for a, spec in config["archives"].items()}


def _archive_spec(wildcards):
    return config["archives"][ARCHIVE_FILES[wildcards.archive_file]]


def archive_local_sources(wildcards):
    """Local `file:` sources of an archive that Snakemake must track: the demo archive built
    by rule demo_source, or files that exist (a missing local mirror is left to the CLI).
    """
    demo = config.get("demo_source", {}).get("output")
    paths = []
    for url in _archive_spec(wildcards)["urls"]:
        if url.startswith("file:") and not url.startswith("file://"):
            path = url[len("file:") :]
            if path == demo or Path(path).is_file():
                paths.append(path)
    return paths


def download_args(wildcards):
    """The one fetch command's arguments for an archive (fetch_cli_args, common.smk)."""
    spec = _archive_spec(wildcards)
    return fetch_cli_args(spec["urls"], spec["sha256"], spec.get("size"), "archive")


def prepare_args(wildcards):
    ds = config["datasets"][wildcards.dataset]
    policy = config["image_policy"]
    return " ".join(
        [
            f"--type {shq(config['archives'][ds['archive']]['type'])}",
            cli_flags("--member", ds["members"]),
            f"--images {shq(ds['images'])} --scale {shq(config['scale'])}",
            f"--alpha {shq(policy['alpha'])} --min-size {shq(policy['min_size'])}",
        ]
    )


def demo_source_args():
    demo = config["demo_source"]
    splits = [f"{k}={','.join(v)}" for k, v in demo["splits"].items()]
    return " ".join(
        [
            cli_flags("--split", splits),
            f"--max-side {shq(demo.get('max_side', 512))}"
            f" --min-side {shq(demo.get('min_side', 256))}",
        ]
    )


def data_targets():
    return TARGETS["data"]
