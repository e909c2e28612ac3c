"""The `ranker` config section: schema, cross-references checked when the DAG loads, and the
Ranker stage wired into the DAG (its rule's arguments, RankSRGAN taking its Ranker from it).
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ranksrgan.config import validate_config
from ranksrgan.errors import RankSRGANError
from tests.support import REPO

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def demo() -> dict:
    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


def _preset_ranker(cfg: dict) -> dict:
    return cfg["train"]["presets"]["ranksrgan_niqe"]["losses"]["rank"]["ranker"]


def test_demo_ranksrgan_uses_the_stage_ranker(demo):
    spec = _preset_ranker(demo)
    assert spec["source"] == "stage" and spec["name"] in demo["ranker"]
    built = demo["ranker"][spec["name"]]
    assert built["rankdata"] in demo["rankdata"]
    assert spec["arch"] == built["arch"] and spec["options"] == built["arch_options"]
    presets = demo["train"]["presets"].values()
    sources = [((p.get("losses") or {}).get("rank") or {}).get("ranker", {}) for p in presets]
    assert all(s.get("source") != "random" for s in sources)  # no random Ranker in the demo


def test_paper_config_rankers_and_rankesrgan():
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    validate_config(cfg, SCHEMA, "config.yaml")
    # the rank Rankers of Tables 3-4, Table 5's regression Rankers, supplement Tables 1-2's
    assert set(cfg["ranker"]) == {"niqe", "ma", "pi", "niqe_hr", "niqe_regression",
                                  "ma_regression", "niqe_div2k", "niqe_vgg8", "niqe_vgg16"}
    assert all(r["rankdata"] == n for n, r in cfg["ranker"].items()
               if n in ("niqe", "ma", "pi", "niqe_hr", "niqe_div2k"))
    assert cfg["ranker"]["ma_regression"]["loss"] == "regression"
    assert cfg["ranker"]["niqe_vgg8"]["arch"] == "ranker_vgg8"
    assert cfg["ranker"]["niqe"]["arch"] == "ranker_vgg12"
    assert cfg["ranker"]["niqe"]["schedule"] == "code"
    rk = cfg["train"]["presets"]["rankesrgan"]
    assert rk["generator"]["arch"] == "rrdbnet" and rk["extends"] == "ranksrgan_niqe"


@pytest.mark.parametrize(
    "mutate,key",
    [
        (lambda c: c["ranker"]["niqe"].update(rankdata="nope"), "ranker.niqe.rankdata"),
        (
            lambda c: _preset_ranker(c).update(name="nope"),
            "train.presets.ranksrgan_niqe.losses.rank.ranker.name",
        ),
        (
            lambda c: _preset_ranker(c).update(arch="ranker_vgg12"),
            "train.presets.ranksrgan_niqe.losses.rank.ranker.arch",
        ),
        (
            lambda c: _preset_ranker(c).update(options={"nf": 4}),
            "train.presets.ranksrgan_niqe.losses.rank.ranker.options",
        ),
        (lambda c: c["ranker"]["niqe"].update(schedul="code"), "ranker.niqe.schedul (unknown key)"),
        (lambda c: c["ranker"]["niqe"].update(loss="hinge"), "ranker.niqe.loss"),
        (lambda c: c["ranker"]["niqe"].update(patch=16), "ranker.niqe.patch"),
        (lambda c: c["ranker"]["niqe"].pop("rankdata"), "ranker.niqe.rankdata (missing key)"),
    ],
)
def test_bad_ranker_config_is_one_line_naming_the_key(demo, mutate, key):
    cfg = copy.deepcopy(demo)
    mutate(cfg)
    with pytest.raises(RankSRGANError) as exc:
        validate_config(cfg, SCHEMA, "my/demo.yaml")
    msg = str(exc.value)
    assert msg.startswith("my/demo.yaml: config key") and f"'{key}'" in msg and "\n" not in msg


def test_dag_trains_the_ranker_before_ranksrgan():
    """Dry run: the Ranker rule gets the section's values; RankSRGAN waits for model.pth."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "results/demo/train/ranksrgan_niqe/G.pth",
            "-n",
            "-p",
            "--forceall",  # plan the whole chain whatever results/demo already holds
            "--nolock",
            "--configfile",
            "config/demo.yaml",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout + out.stderr
    line = next(ln for ln in text.splitlines() if "ranksrgan ranker train" in ln)
    for part in (
        "--index results/demo/rankdata/niqe/index.parquet",
        "--arch ranker_vgg8",
        "--arch-options '{\"nf\": 8}'",
        "--patch 64",
        "--augment",
        "--iterations 200",
        "--label 'tiny demo Ranker'",
        "--device cpu",
        "> results/demo/logs/ranker/niqe.log",
    ):
        assert part in line, part
    train = next(ln for ln in text.splitlines() if "--preset ranksrgan_niqe" in ln)
    assert "--ranker results/demo/ranker/niqe/model.pth" in train


def test_ranker_bn_replicas_reaches_the_job_and_is_checked():
    """`ranker.<name>.bn_replicas` (the authors' N-GPU BatchNorm batch) is a schema key that the
    rule passes on as --bn-replicas; 0 is one line naming the key."""
    import subprocess
    import sys

    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["ranker"]["niqe"]["bn_replicas"] = 0
    with pytest.raises(RankSRGANError, match=r"'ranker.niqe.bn_replicas'"):
        validate_config(cfg, SCHEMA, "demo.yaml")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "-n", "-p", "--forceall", "--nolock",
         "--rerun-incomplete",
         "--configfile", "config/demo.yaml", "--config", "ranker={niqe: {bn_replicas: 2}}"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [ln for ln in proc.stdout.splitlines() if "ranksrgan ranker train" in ln]
    assert lines and all("--bn-replicas 2" in ln for ln in lines)


def test_stage_ranker_network_is_stated_once_by_the_ranker_section():
    """A preset's stage Ranker may leave arch / options out: the job gets the Ranker section's
    (the paper config states them only there); values a preset gives are kept."""
    import json
    import shlex

    from ranksrgan.presets import with_stage_ranker

    rankers = {"n": {"arch": "ranker_vgg8", "arch_options": {"nf": 8}}}
    bare = {"losses": {"rank": {"weight": 1, "ranker": {"source": "stage", "name": "n"}}}}
    spec = with_stage_ranker(bare, rankers)["losses"]["rank"]["ranker"]
    assert (spec["arch"], spec["options"]) == ("ranker_vgg8", {"nf": 8})
    assert "arch" not in bare["losses"]["rank"]["ranker"]  # a copy
    given = {"losses": {"rank": {"ranker": {"source": "stage", "name": "n", "arch": "x"}}}}
    assert with_stage_ranker(given, rankers)["losses"]["rank"]["ranker"]["arch"] == "x"

    paper = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert "arch" not in paper["train"]["presets"]["ranksrgan_niqe"]["losses"]["rank"]["ranker"]
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "table4", "-n", "-p", "--forceall",
         "--nolock", "--configfile", "config/config.yaml"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    jobs = {}
    for line in proc.stdout.splitlines():
        line = line.removeprefix("Shell command: ")
        if line.startswith("ranksrgan train --preset"):
            a = shlex.split(line)
            jobs[a[a.index("--preset") + 1]] = json.loads(a[a.index("--preset-json") + 1])
    for preset, name in (("ranksrgan_niqe", "niqe"), ("ranksrgan_ma", "ma")):
        spec = jobs[preset]["preset"]["losses"]["rank"]["ranker"]
        section = paper["ranker"][name]
        assert (spec["arch"], spec["options"]) == (section["arch"], section["arch_options"])
