"""Config validation: every kind of mistake gives ONE line naming the key and the file."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ranksrgan.config import load_config, validate_config
from ranksrgan.errors import RankSRGANError
from tests.support import REPO
from tests.support.configs import DELETE, set_key

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


CASES = {
    # name: (mutation, key expected in the message, words expected in the message)
    "wrong type": (set_key("scale", "four"), "scale", "not of type 'integer'"),
    "wrong nested type": (set_key("data.download.retries", "x"), "data.download.retries",
                          "not of type"),
    "unknown key": (set_key("image_policy.alhpa", "drop"), "image_policy.alhpa (unknown key)",
                    "unexpected"),
    "unknown top-level key": (set_key("resutls_dir", "x"), "resutls_dir (unknown key)",
                              "unexpected"),
    "missing key": (set_key("datasets.demo_train.images", DELETE),
                    "datasets.demo_train.images (missing key)", "required"),
    "missing section": (set_key("archives", DELETE), "archives (missing key)", "required"),
    "bad enum": (set_key("device", "gpu"), "device", "is not one of"),
    "bad archive type": (set_key("archives.demo_photos.type", "rar"), "archives.demo_photos.type",
                         "is not one of"),
    "bad sha256": (set_key("archives.demo_photos.sha256", "abc"), "archives.demo_photos.sha256",
                   "does not match"),
    "bad url scheme": (set_key("archives.demo_photos.urls", ["ftp://x/y.zip"]),
                       "archives.demo_photos.urls.0", "does not match"),
    "bad demo split": (set_key("demo_source.splits.train", "astronaut"), "demo_source.splits.train",
                       "not of type 'array'"),
    "unknown archive reference": (set_key("datasets.demo_train.archive", "nope"),
                                  "datasets.demo_train.archive", "unknown archive 'nope'"),
    "unknown dataset reference": (set_key("data.datasets", ["demo_train", "nope"]),
                                  "data.datasets[1]", "unknown dataset 'nope'"),
    "unknown sr method": (set_key("sr.methods", ["bicubic", "nope"]), "sr.methods[1]",
                          "unknown method 'nope'"),
    "unknown score dataset": (set_key("score.datasets", ["nope"]), "score.datasets[0]",
                              "unknown dataset 'nope'"),
    "unknown score method": (set_key("score.methods", ["HR", "nope"]), "score.methods[1]",
                             "unknown method 'nope'"),
    "unknown weights": (set_key("methods.srresnet", {"kind": "network", "arch": "srresnet",
                                                  "weights": "nope"}),
                        "methods.srresnet.weights", "unknown weights 'nope'"),
    # References the schema cannot see: before, these ended in MissingInputException, a
    # failure at run time, or one after training (issue 19).
    "unknown train target": (set_key("train.targets", ["srresnet", "nope"]), "train.targets[1]",
                             "unknown train preset 'nope'"),
    "unknown method preset": (set_key("methods.srresnet.train_preset", "nope"),
                              "methods.srresnet.train_preset", "unknown train preset 'nope'"),
    "unknown preset init": (set_key("train.presets.srgan.init", "nope"),
                            "train.presets.srgan.init", "unknown preset 'nope'"),
    "unknown preset dataset": (set_key("train.presets.srresnet.data.train", ["nope"]),
                               "train.presets.srresnet.data.train[0]",
                               "unknown dataset 'nope'"),
    "unknown score metric": (set_key("score.metrics", ["niqe", "niqee"]),
                             "score.metrics[1]", "unknown metric 'niqee'"),
    "arch options differ from preset": (set_key("methods.srresnet.arch_options",
                                                {"nf": 32, "nb": 2}),
                                        "methods.srresnet.arch_options",
                                        "differs from train.presets.srresnet.generator.options"),
}


@pytest.fixture(scope="module")
def demo_cfg() -> dict:
    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


@pytest.mark.parametrize("config_file", ["config.yaml", "demo.yaml"])
def test_shipped_configs_are_valid(config_file):
    cfg = load_config(REPO / "config" / config_file, SCHEMA)
    assert cfg["scale"] == 4


@pytest.mark.parametrize("case", sorted(CASES))
def test_validate_config_one_line(demo_cfg, case):
    mutate, key, words = CASES[case]
    cfg = copy.deepcopy(demo_cfg)
    mutate(cfg)
    with pytest.raises(RankSRGANError) as exc:
        validate_config(cfg, SCHEMA, "my/broken.yaml")
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(f"my/broken.yaml: config key '{key}'")
    assert words in msg


def test_load_config_errors(tmp_path):
    with pytest.raises(RankSRGANError, match=r"nope\.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml", SCHEMA)
    (tmp_path / "bad.yaml").write_text("scale: [4\n")
    with pytest.raises(RankSRGANError, match=r"bad\.yaml: invalid YAML"):
        load_config(tmp_path / "bad.yaml", SCHEMA)


@pytest.mark.parametrize("case", ["wrong type", "unknown key", "bad enum", "missing key",
                                  "unknown train target", "unknown score metric"])
def test_snakemake_reports_key_and_file(tmp_path, demo_cfg, case):
    """`snakemake -n` with a broken config stops at DAG load with the same one-line message."""
    mutate, key, words = CASES[case]
    cfg = copy.deepcopy(demo_cfg)
    mutate(cfg)
    cfg["results_dir"] = str(tmp_path / "results")
    bad = tmp_path / "broken.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        [str(SNAKEMAKE), "-n", "--nolock", "--configfile", str(bad)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines()
             if f"{bad}: config key '{key}'" in ln]
    assert lines, proc.stdout + proc.stderr
    assert words in lines[0]


def _alias_bomb(levels: int = 9) -> str:
    """YAML text of `levels` levels of nine aliases each (9**levels values expanded)."""
    lines = ["  a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        lines.append(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("where", ["load_config", "status", "snakemake"])
def test_yaml_alias_bomb_is_refused_in_one_line_not_expanded(tmp_path, where):
    """Nine levels of aliases under an unknown key: refused at once (the old schema-error sort
    key formatted the whole expanded instance and hung for minutes at 3 GB)."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text((REPO / "config" / "demo.yaml").read_text() + "\nbogus_key:\n" + _alias_bomb())
    if where == "load_config":
        cmd = [sys.executable, "-c",
               "import sys; from ranksrgan.config import load_config; load_config(sys.argv[1])",
               str(bomb)]
    elif where == "status":
        cmd = [str(Path(sys.executable).parent / "ranksrgan"), "status", "--config", str(bomb)]
    else:
        cmd = [str(SNAKEMAKE), "-n", "--nolock", "--configfile", str(bomb)]
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{where} did not finish within 60 s on an alias bomb")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert f"{bomb}: config expands to more than" in out, out[-2000:]


def test_oversized_config_file_is_refused_naming_the_file(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text((REPO / "config" / "demo.yaml").read_text() + "\n#" + "x" * (1 << 20) + "\n")
    with pytest.raises(RankSRGANError, match=r"big\.yaml: config file is .* bytes"):
        load_config(big)


def test_every_shipped_config_is_within_the_size_limits():
    for path in sorted((REPO / "config").glob("*.yaml")):
        if path.name == "paper_results.yaml":
            continue
        load_config(path)


def test_checks_once_held_in_rule_files_run_when_the_config_loads(demo_cfg):
    """What sr/score/train rule files used to check themselves is refused by validate_config
    (so `ranksrgan status` and the train CLI's --config mode refuse it too)."""
    cfg = copy.deepcopy(demo_cfg)
    cfg["methods"]["fsrcnn"].pop("train_preset", None)
    cfg["methods"]["fsrcnn"].pop("weights", None)
    with pytest.raises(RankSRGANError, match=r"'methods.fsrcnn': give 'weights' or 'train_preset'"):
        validate_config(cfg, SCHEMA, "demo.yaml")
    cfg = copy.deepcopy(demo_cfg)
    cfg.pop("metric_models")
    assert {"ma", "pi"} & set(cfg["score"]["metrics"])
    with pytest.raises(RankSRGANError, match=r"demo.yaml: config key 'metric_models.nrqm'"):
        validate_config(cfg, SCHEMA, "demo.yaml")


def test_trained_method_takes_its_network_from_the_preset(demo_cfg):
    """arch / arch_options left out of a trained method: the preset's generator, stated once."""
    from ranksrgan.config import method_network

    cfg = copy.deepcopy(demo_cfg)
    gen = cfg["train"]["presets"]["fsrcnn"]["generator"]
    spec = cfg["methods"]["fsrcnn"]
    spec.pop("arch"), spec.pop("arch_options", None)
    validate_config(cfg, SCHEMA, "demo.yaml")
    assert method_network(cfg, "fsrcnn") == (gen["arch"], gen.get("options", {}))
    cfg["methods"]["fsrcnn"]["train_preset"] = "nope"
    with pytest.raises(RankSRGANError, match="methods.fsrcnn"):
        validate_config(cfg, SCHEMA, "demo.yaml")
