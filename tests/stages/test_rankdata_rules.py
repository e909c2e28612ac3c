"""Rank-dataset rules on hand-built cases: grid, sharpness, NIQE distance, cap, split, labels."""

import numpy as np
import pandas as pd
import pytest
import skimage.data
import torch
from scipy import ndimage

from ranksrgan.errors import RankSRGANError
from ranksrgan.rankdata.labels import label_metric, orient
from ranksrgan.rankdata.positions import crop_batch, grid_positions, grid_starts, to_unit_tensor
from ranksrgan.rankdata.selection import (
    block_mean_sum,
    cap_positions,
    image_seed,
    local_std,
    sharpness,
)
from ranksrgan.rankdata.shard import Selection, process_image
from ranksrgan.rankdata.split import assign_split, n_validation


def test_grid_rule_is_matlab_one_based_range_below_h_minus_size():
    # MATLAB 1:148:592-296 = [1 149] -> 0-based 0, 148; the window at 296 is never used
    assert grid_starts(592, 296, 148) == [0, 148]
    # 1:148:304 = [1 149 297] -> 0, 148, 296 (304, the last window, is not on the grid)
    assert grid_starts(600, 296, 148) == [0, 148, 296]
    assert grid_starts(296, 296, 148) == []  # 1:148:0 is empty
    assert grid_starts(295, 296, 148) == []
    assert grid_starts(2040, 296, 200) == list(range(0, 1744, 200))  # paper text's stride
    assert grid_starts(592, 296, 148, "full") == [0, 148, 296]
    assert grid_positions(600, 592, 296, 148) == [(y, x) for y in (0, 148, 296) for x in (0, 148)]
    with pytest.raises(RankSRGANError, match="grid rule"):
        grid_starts(600, 296, 148, "other")


def test_crop_batch_takes_the_patch_at_its_top_left_pixel():
    img = torch.arange(5 * 7).reshape(1, 5, 7)
    out = crop_batch(img, [(1, 2), (0, 4)], 3)
    assert out.shape == (2, 1, 3, 3)
    assert out[0, 0, 0, 0] == 1 * 7 + 2 and out[1, 0, 2, 2] == 2 * 7 + 6


def test_block_mean_sum_zero_pads_partial_blocks_like_blkproc():
    # a constant sigma map c on 296 x 296: 4 x 4 blocks of 96, the last row/column of blocks
    # holds 8 px of data and 88 of zeros; sum of means = c * 296^2 / 96^2
    sigma = torch.full((1, 296, 296), 3.0, dtype=torch.float64)
    assert block_mean_sum(sigma, 96).item() == pytest.approx(3.0 * 296**2 / 96**2, rel=1e-12)
    one_corner = torch.zeros((1, 296, 296), dtype=torch.float64)
    one_corner[0, 295, 295] = 9216.0  # alone in the last (partial) block: its mean is 1
    assert block_mean_sum(one_corner, 96).item() == pytest.approx(1.0)


def test_local_std_is_the_filtered_squared_deviation_with_replicate_borders():
    rng = np.random.default_rng(0)
    im = rng.uniform(0, 255, (40, 50))
    x = np.arange(-3, 4)
    g = np.exp(-(x**2) / (2 * (7 / 6) ** 2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    mu = ndimage.correlate(im, w, mode="nearest")  # 'nearest' = MATLAB 'replicate'
    ref = np.sqrt(ndimage.correlate((im - mu) ** 2, w, mode="nearest"))
    ours = local_std(torch.from_numpy(im)[None])[0].numpy()
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)


def test_sharpness_rule_rejects_a_flat_patch_and_keeps_a_textured_one():
    flat = torch.full((1, 3, 296, 296), 0.5, dtype=torch.float64)
    photo = skimage.data.astronaut()[100:396, 150:446]  # hair, face and badge: texture
    textured = to_unit_tensor(photo)[None]
    s = sharpness(torch.cat([flat, textured]))
    assert s[0].item() == 0.0
    assert s[1].item() >= 40.0  # passes the authors' threshold


def test_niqe_distance_rule_drops_positions_where_the_two_top_levels_agree():
    photo = skimage.data.astronaut()[:256, :256]
    blurred = np.clip(ndimage.gaussian_filter(photo.astype(float), (1.5, 1.5, 0)), 0, 255)
    blurred = blurred.round().astype(np.uint8)
    sel = Selection(size=128, stride=64, sharpness_min=None, gap_min=0.1, max_per_image=None)
    label = label_metric("niqe")
    from ranksrgan.rankdata.selection import gap_metric

    gap = gap_metric()
    same = process_image([blurred, photo, photo], sel, label, gap, seed=0)
    assert same.counts == {
        "n_grid": 4,
        "n_sharpness": 4,
        "n_gap": 0,
        "n_kept": 0,
        "n_gap_undefined": 0,
    }
    differ = process_image([photo, blurred, photo], sel, label, gap, seed=0)
    assert differ.counts["n_gap"] > 0
    assert np.all(differ.gap > 0.1)
    # the gap is NIQE on rgb2gray without shave, not the label protocol (Y, 4 px shave)
    y0, x0 = differ.positions[0]
    p_blur = to_unit_tensor(blurred[y0 : y0 + 128, x0 : x0 + 128])[None]
    p_top = to_unit_tensor(photo[y0 : y0 + 128, x0 : x0 + 128])[None]
    assert differ.gap[0] == pytest.approx(abs((gap(p_blur) - gap(p_top)).item()), abs=1e-12)
    assert differ.scores[1, 0] == pytest.approx(label(p_blur).item(), abs=1e-12)


def test_cap_keeps_all_below_the_limit_and_a_seeded_subset_above():
    np.testing.assert_array_equal(cap_positions(150, 200, seed=1), np.arange(150))
    np.testing.assert_array_equal(cap_positions(500, None, seed=1), np.arange(500))
    a = cap_positions(500, 200, image_seed(0, "DIV2K_train", "0001"))
    b = cap_positions(500, 200, image_seed(0, "DIV2K_train", "0001"))
    c = cap_positions(500, 200, image_seed(0, "DIV2K_train", "0002"))
    assert len(a) == 200 and len(set(a)) == 200 and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(a, b)  # same seed, same draw (any shard, any process)
    assert not np.array_equal(a, c)
    # the per-image seed is a fixed function of its inputs (not Python's salted hash())
    assert image_seed(0, "DIV2K_train", "0001") == image_seed(0, "DIV2K_train", "0001")
    assert image_seed(1, "DIV2K_train", "0001") != image_seed(0, "DIV2K_train", "0001")


def _index(n_images: int, per_image: int) -> pd.DataFrame:
    rows = [
        {"dataset": "d", "image": f"{i:04d}", "y": k * 10, "x": 0, "level": lv}
        for i in range(n_images)
        for k in range(per_image)
        for lv in range(3)
    ]
    return pd.DataFrame(rows)


def test_split_by_image_puts_no_image_on_both_sides():
    index = _index(30, 5)
    split = assign_split(index, "image", 0.1, seed=3)
    per_image = split.groupby(index["image"]).nunique()
    assert per_image.max() == 1
    assert split.groupby(index["image"]).first().eq("val").sum() == 3
    pd.testing.assert_series_equal(split, assign_split(index, "image", 0.1, seed=3))
    assert not split.equals(assign_split(index, "image", 0.1, seed=4))


def test_split_by_patch_keeps_triplets_together_but_splits_images():
    index = _index(10, 20)
    split = assign_split(index, "patch", 0.1, seed=0)
    assert split.groupby([index["image"], index["y"]]).nunique().max() == 1  # triplets whole
    assert (split.groupby(index["image"]).nunique() == 2).any()  # images on both sides
    assert (split == "val").sum() == 3 * 20  # 10% of 200 positions, 3 levels each


def test_n_validation_bounds():
    assert n_validation(3450, 0.1) == 345
    assert n_validation(6, 0.1) == 1  # at least one image
    assert n_validation(1, 0.1) == 0  # never all
    assert n_validation(10, 0.0) == 0
    with pytest.raises(RankSRGANError):
        n_validation(10, 1.0)


def test_labels_are_oriented_lower_is_better():
    scores = np.array([[5.0, 3.0], [7.0, 1.0]])
    np.testing.assert_array_equal(orient(scores, lower_better=True), scores)  # NIQE, PI
    np.testing.assert_array_equal(orient(scores, lower_better=False), -scores)  # Ma
    assert label_metric("niqe").lower_better
    assert label_metric("niqe").params["colour"] == "y"
    assert label_metric("niqe").params["shave"] == 4
    with pytest.raises(RankSRGANError, match="nrqm-model"):
        label_metric("ma")
    with pytest.raises(RankSRGANError, match="label metric"):
        label_metric("psnr")


@pytest.mark.parametrize(
    "mutate, key, words",
    [
        (
            lambda c: c["rankdata"]["niqe"].update(sources=["nope"]),
            "rankdata.niqe.sources[0]",
            "unknown dataset 'nope'",
        ),
        (
            lambda c: c["rankdata"]["niqe"].update(methods=["srresnet", "typo"]),
            "rankdata.niqe.methods[1]",
            "unknown method 'typo'",
        ),
        (
            lambda c: c["rankdata"]["niqe"].update(methods=["srgan", "srgan"]),
            "rankdata.niqe.methods",
            "repeats",
        ),
        (lambda c: c["rankdata"]["niqe"].update(size=100), "rankdata.niqe.size", "104 px"),
        (
            lambda c: (c["rankdata"]["niqe"].update(metric="ma"), c.pop("metric_models")),
            "metric_models.nrqm",
            "needs the NRQM model",
        ),
        (
            lambda c: c["rankdata"]["niqe"]["selection"].update(sharpness=40),
            "rankdata.niqe.selection.sharpness",
            "unknown key",
        ),
        (
            lambda c: c["rankdata"]["niqe"]["split"].update(by="video"),
            "rankdata.niqe.split.by",
            "is not one of",
        ),
    ],
)
def test_rankdata_config_mistakes_name_the_key(mutate, key, words, repo_root):
    import copy

    import yaml

    from ranksrgan.config import validate_config

    cfg = copy.deepcopy(yaml.safe_load((repo_root / "config/demo.yaml").read_text()))
    mutate(cfg)
    with pytest.raises(RankSRGANError) as exc:
        validate_config(cfg, repo_root / "workflow/schemas/config.schema.yaml", "demo.yaml")
    msg = str(exc.value)
    assert "\n" not in msg and key in msg and words in msg and msg.startswith("demo.yaml")


def test_paper_config_builds_the_paper_rank_datasets_from_div2k_and_flickr2k(repo_root):
    import yaml

    cfg = yaml.safe_load((repo_root / "config/config.yaml").read_text())
    rd = cfg["rankdata"]
    assert {n: rd[n]["metric"] for n in rd} == {
        "niqe": "niqe",
        "ma": "ma",
        "pi": "pi",
        "niqe_hr": "niqe",
        "niqe_div2k": "niqe",
    }
    assert rd["niqe"]["sources"] == ["DIV2K_train", "Flickr2K"]
    assert rd["niqe_div2k"]["sources"] == ["DIV2K_train"]  # supplement Table 1's Ranker1
    assert rd["niqe"]["methods"] == ["srresnet", "srgan", "esrgan"]
    assert rd["niqe_hr"]["methods"] == ["srresnet", "srgan", "HR"]
    assert (rd["niqe"]["size"], rd["niqe"]["stride"], rd["niqe"]["grid"]) == (296, 148, "script")
    assert rd["niqe"]["selection"] == {
        "sharpness_min": 40,
        "sharpness_block": 96,
        "niqe_gap_min": 0.1,
        "max_per_image": 200,
        "seed": 0,
    }


def test_workflow_rules_call_the_cli_with_arguments_it_accepts(repo_root):
    """`snakemake -n -p` of the paper's Ma rank dataset: every rankdata shell line parses."""
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    from ranksrgan.cli import build_parser

    target = "results/paper/rankdata/ma/index.parquet"
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "snakemake"),
            target,  # before --configfile, which takes several values
            "-n",
            "-p",
            "--forceall",
            "--nolock",
            "--configfile",
            "config/config.yaml",
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    lines = [
        "ranksrgan rankdata" + ln.split("ranksrgan rankdata", 1)[1]
        for ln in out.splitlines()
        if "ranksrgan rankdata" in ln
    ]
    shard = [ln for ln in lines if " shard " in ln]
    gather = [ln for ln in lines if " gather " in ln]
    assert len(shard) == 32 + 106  # DIV2K_train 800 + Flickr2K 2650 images, 25 per shard
    assert len(gather) == 1 and gather[0].count("--shard ") == 138
    parser = build_parser()
    for line in (shard[0], gather[0]):
        argv = shlex.split(line.split(" > ")[0])[1:]
        args = parser.parse_args(argv)
        assert args.func is not None
    args = parser.parse_args(shlex.split(shard[0].split(" > ")[0])[1:])
    assert args.metric == "ma" and args.nrqm_model.endswith("NRQM_model.mat")
    assert [lv.split("=")[0] for lv in args.level] == ["srresnet", "srgan", "esrgan"]
    assert (args.size, args.stride, args.grid) == (296, 148, "script")
    assert (args.sharpness_min, args.niqe_gap_min, args.max_per_image) == (40.0, 0.1, 200)
