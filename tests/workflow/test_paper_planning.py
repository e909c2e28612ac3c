"""Paper-scale planning (issue 17.6): with a fake listing of the paper's inputs (data
manifests of 800 DIV2K + 2,650 Flickr2K + the test sets, no pixels), `snakemake -n` on
config/config.yaml plans the whole DAG downstream of the data stage, in shards."""

from __future__ import annotations

import importlib.util
import math
import re
import sys

import pytest
import yaml

from ranksrgan.layout import stage_targets
from tests.support import REPO

_spec = importlib.util.spec_from_file_location(
    "dag_planning", REPO / "benchmarks" / "dag_planning.py"
)
dag_planning = importlib.util.module_from_spec(_spec)
sys.modules["dag_planning"] = dag_planning
_spec.loader.exec_module(dag_planning)


@pytest.fixture(scope="module")
def paper_plan(tmp_path_factory) -> tuple[dict, str]:
    root = tmp_path_factory.mktemp("paper-plan")
    cfg = dag_planning.fake_listing(root)
    out, _, _ = dag_planning.plan(root, quiet=False)
    return cfg, out


def _shards(cfg: dict, dataset: str, size: int) -> int:
    return math.ceil(cfg["datasets"][dataset]["images"] / size)


def test_fake_listing_has_the_paper_image_counts(paper_plan):
    cfg, _ = paper_plan
    counts = {d: cfg["datasets"][d]["images"] for d in cfg["data"]["datasets"]}
    assert counts["DIV2K_train"] == 800 and counts["Flickr2K"] == 2650
    assert {"Set14", "BSD100", "PIRM_val", "PIRM_test"} <= set(counts)


def test_paper_dag_job_counts_are_sharded(paper_plan):
    cfg, out = paper_plan
    counts = dag_planning.job_counts(out)
    # the fake manifests stand for a finished data stage: nothing of it is planned
    assert "download_archive" not in counts and "prepare_dataset" not in counts
    # sr: test sets (Set14 1 shard of 25, BSD100/PIRM_val/PIRM_test 4 each = 13 shards) x 17
    # methods (every SR method of the paper's tables), plus the rank datasets' levels on
    # DIV2K_train (32 shards) + Flickr2K (106) x 3 methods (srresnet, srgan, esrgan)
    test_shards = sum(_shards(cfg, d, cfg["sr"]["shard_size"]) for d in cfg["sr"]["datasets"])
    train_shards = sum(_shards(cfg, d, 25) for d in ("DIV2K_train", "Flickr2K"))
    assert (test_shards, train_shards) == (13, 138)
    level_methods = {m for spec in cfg["rankdata"].values() for m in spec["methods"]} - {"HR"}
    n_methods = len(cfg["sr"]["methods"])
    assert n_methods == 17 and len(level_methods) == 3
    # 4 rank datasets on DIV2K_train + Flickr2K, supplement Table 1's Ranker1 on DIV2K_train
    rankdata_shards = sum(
        sum(_shards(cfg, d, spec["shard_size"]) for d in spec["sources"])
        for spec in cfg["rankdata"].values()
    )
    assert rankdata_shards == 138 * 4 + 32
    expected = {
        "sr_shard": 13 * n_methods + 138 * 3,  # 635
        "sr_gather": 4 * n_methods + 2 * 3,  # 74
        "score_shard": 13 * (n_methods + 1),  # HR + every method
        "score_gather": 4 * (n_methods + 1),
        "rankdata_shard": rankdata_shards,  # 584
        "rankdata_gather": len(cfg["rankdata"]),
        "report_build": 1,
        # one download rule for every file: ESRGAN's public weights, the NRQM model, the
        # perceptual losses' VGG19 (login-node downloads)
        "fetch_file": 3,
        "train_rrdb_psnr": 1,  # RankESRGAN's init (the beyond-the-paper table)
        "all": 1,
    }
    expected.update({f"ranker_{n}": 1 for n in cfg["ranker"]})
    expected.update({f"train_{p}": 1 for p in cfg["train"]["targets"]})
    assert counts == expected
    # sharded, not one job per image or patch: 3,864 images in (DIV2K_valid too), 1,634 jobs
    images = sum(cfg["datasets"][d]["images"] for d in cfg["data"]["datasets"])
    assert images == 3864
    assert sum(counts.values()) == 1634 and max(counts.values()) < images / 5


def _rule_all_inputs(out: str) -> set[str]:
    block = re.search(r"^rule all:\n\s+input: (.*)$", out, flags=re.MULTILINE)
    assert block, "the dry run lists rule all"
    return set(block.group(1).split(", "))


def test_status_targets_are_rule_all_inputs(paper_plan):
    """ranksrgan status computes each stage's targets itself: they must be rule all's."""
    cfg, out = paper_plan
    ours = [t for targets in stage_targets(cfg).values() for t in targets]
    assert len(ours) == len(set(ours))
    assert set(ours) == _rule_all_inputs(out)


def test_status_targets_of_the_demo_are_rule_all_inputs():
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    out, _, _ = dag_planning.plan(
        REPO, "config/demo.yaml", quiet=False, extra=("--forceall", "--nolock")
    )
    ours = [t for targets in stage_targets(cfg).values() for t in targets]
    assert len(ours) == len(set(ours))
    assert set(ours) == _rule_all_inputs(out)
