"""What the Ranker stage measures for the paper's Table 5 and supplement Table 2."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ranksrgan.ranker.evaluate import output_distance, summarise


def _eval(outputs: dict[str, list[float]], levels=("srresnet", "srgan", "esrgan")) -> pd.DataFrame:
    rows = []
    for m, outs in outputs.items():
        for k, o in enumerate(outs):
            rows.append({"dataset": "d", "image": f"im{k // 2}", "x": 10 * (k % 2), "y": 0,
                         "size": 64, "method": m, "level": levels.index(m), "metric": "niqe",
                         "score": o, "label": o, "output": o})
    return pd.DataFrame(rows)


def test_distance_is_taken_after_the_rank_content_sigmoid_and_raw():
    ev = _eval({"srresnet": [9.0, 8.0, 7.0], "srgan": [0.0, 1.0, 2.0], "esrgan": [1.0, 1.0, -2.0]})
    d = output_distance(ev)
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    want = np.mean([abs(sig(0) - sig(1)), 0.0, abs(sig(2) - sig(-2))])
    assert (d["sr1"], d["sr2"], d["n_sr1_sr2"]) == ("srgan", "esrgan", 3)
    assert d["e_sr1_sr2"] == pytest.approx(want)
    assert d["e_sr1_sr2_raw"] == pytest.approx((1 + 0 + 4) / 3)
    spread = np.std([9, 8, 7, 0, 1, 2, 1, 1, -2])
    assert d["e_sr1_sr2_std"] == pytest.approx((5 / 3) / spread)


def test_regression_scale_outputs_give_a_small_sigmoid_distance():
    """A regression Ranker's NIQE-scale outputs saturate the sigmoid: the same raw gap
    counts for less than on a rank Ranker's scale, which is the comparison Table 5 makes."""
    regression = output_distance(_eval({"srresnet": [9.0], "srgan": [6.0], "esrgan": [5.0]}))
    rank = output_distance(_eval({"srresnet": [2.0], "srgan": [0.5], "esrgan": [-0.5]}))
    assert regression["e_sr1_sr2_raw"] == rank["e_sr1_sr2_raw"] == pytest.approx(1.0)
    assert regression["e_sr1_sr2"] < rank["e_sr1_sr2"]


def test_without_srgan_and_esrgan_the_two_highest_levels_stand_in():
    ev = _eval({"srresnet": [3.0], "srgan": [1.0], "HR": [0.0]}, levels=("srresnet", "srgan", "HR"))
    d = output_distance(ev)
    assert (d["sr1"], d["sr2"]) == ("srgan", "HR")
    assert d["e_sr1_sr2_raw"] == pytest.approx(1.0)


def test_no_position_gives_nan_and_summary_carries_the_distance():
    assert math.isnan(output_distance(_eval({"srgan": [1.0]}).iloc[:0])["e_sr1_sr2"])
    s = summarise(_eval({"srresnet": [3.0, 2.0], "srgan": [1.0, 0.0], "esrgan": [0.0, 0.0]}))
    assert s["e_sr1_sr2_raw"] == pytest.approx(0.5) and s["n_sr1_sr2"] == 2


@pytest.mark.parametrize(
    "arch, paper_k", [("ranker_vgg8", 7069), ("ranker_vgg12", 13734), ("ranker_vgg16", 19194)]
)
def test_ranker_parameter_counts_match_the_supplement(arch, paper_k):
    """Supplement Table 2 prints parameters in thousands, truncated (7,069 K / 13,734 K /
    19,194 K); our networks at nf 64 have exactly those."""
    from ranksrgan.archs import build

    n = sum(p.numel() for p in build(arch, nf=64).parameters())
    assert n // 1000 == paper_k
