"""Issue 19: score rows of flat images say what is wrong with the image, not torch.linalg's text."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ranksrgan.io import ImagePolicy, write_png
from ranksrgan.metrics import create_metric
from ranksrgan.metrics.synthetic import write_synthetic_nrqm
from ranksrgan.score.shard import Item, score_item


@pytest.fixture(scope="module")
def metrics(tmp_path_factory):
    model = tmp_path_factory.mktemp("nrqm") / "NRQM_model_SYNTHETIC.mat"
    write_synthetic_nrqm(model, seed=1, n_trees=10)
    return [create_metric("niqe"), create_metric("ma", model_path=str(model)),
            create_metric("pi", model_path=str(model))]


@pytest.mark.parametrize("side,value", [(128, 0), (300, 0), (200, 128)])
def test_flat_image_rows_name_the_image_and_the_reason(tmp_path, metrics, side, value):
    png = tmp_path / "flat.png"
    write_png(png, np.full((side, side, 3), value, np.uint8))
    rows = score_item("toy", "m", Item("flat", str(png), str(png)), metrics, ImagePolicy())
    luma = {0: 16, 128: 126}[value]
    want = {
        "niqe": f"{png}: image is flat (constant luma {luma}): NIQE undefined, "
                "no block has local contrast",
        "ma": f"{png}: image is flat (constant luma {luma}): Ma undefined, "
              "no pyramid band has contrast",
        "pi": f"{png}: PI undefined: image is flat (constant luma {luma}): Ma undefined, "
              "no pyramid band has contrast",
    }
    assert {r["metric"]: r["error"] for r in rows} == want
    assert all(math.isnan(r["value"]) for r in rows)
