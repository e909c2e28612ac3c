"""The Ranker stage reads what the rankdata stage writes: a rank index built by
`ranksrgan rankdata shard/gather` on three real photos with three fake methods (blur levels)
trains a Ranker, whose evaluation covers exactly the index's validation rows.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ranksrgan.cli import main
from tests.support.rankdata_inputs import (
    rankdata_gather_args,
    rankdata_shard_args,
    write_level_dataset,
)


@pytest.fixture(scope="module")
def photos():
    import skimage.data

    return {
        "astronaut": skimage.data.astronaut()[:256, :256],
        "chelsea": skimage.data.chelsea()[:256, :320],
        "coffee": skimage.data.coffee()[100:356, 200:456],
    }


def test_ranker_trains_on_the_rankdata_stage_index(tmp_path, photos):
    data, srs = write_level_dataset(tmp_path, photos)
    shard = tmp_path / "rankdata" / "idx" / "shards" / "photos" / "0.parquet"
    assert main(rankdata_shard_args(data, srs, shard, "--shard", "0", "--shard-size", "3")) == 0
    root = tmp_path / "rankdata" / "idx"
    assert main(rankdata_gather_args(root, [shard], "--val-fraction", "0.34", "--seed", "1")) == 0
    index = pd.read_parquet(root / "index.parquet")
    assert set(index["split"]) == {"train", "val"}

    out = tmp_path / "ranker" / "idx"
    args = [
        "ranker",
        "train",
        "--index",
        str(root / "index.parquet"),
        "--out",
        str(out),
        "--arch",
        "ranker_vgg8",
        "--arch-options",
        '{"nf": 4}',
        "--iterations",
        "4",
        "--batch-size",
        "2",
        "--patch",
        "64",
        "--augment",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--log-every",
        "2",
    ]
    assert main(args) == 0
    ev = pd.read_parquet(out / "eval.parquet")
    val = index[index["split"] == "val"]
    assert len(ev) == len(val) and set(ev["image"]) == set(val["image"])
    assert sorted(ev["method"].unique()) == sorted(index["method"].unique())
    meta = json.loads((out / "model.json").read_text())
    assert meta["data"]["metric"] == "niqe" and meta["data"]["patch"] == 64
    assert meta["data"]["methods"] == {"blur": 0, "mild": 1, "sharp": 2}
    # stand-in inputs stay marked (the one encoding: model.json's stand_in note)
    assert "rank data: fake method (test)" in meta["stand_in"].split("; ")
