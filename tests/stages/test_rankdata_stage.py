"""The rank-dataset stage end to end on real photos with fake "methods" (blur < mild < sharp).

Three scikit-image photos play the HR images; the levels are made by blurring (level 0),
mild blurring (level 1) and sharpening (level 2). Runs shard -> gather -> export through
the CLI, and checks resume, bad input and the skipped small image.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skimage.data

from ranksrgan.cli import main
from ranksrgan.io import sha256_file, write_png
from ranksrgan.rankdata import shard as shard_mod
from tests.support.rankdata_inputs import (
    METHODS,
    SIZE,
    levels,
    rankdata_gather_args,
    rankdata_shard_args,
    write_level_dataset,
)


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return {
        "astronaut": skimage.data.astronaut()[:256, :256],
        "chelsea": skimage.data.chelsea()[:256, :320],
        "coffee": skimage.data.coffee()[100:356, 200:456],
        "tiny": skimage.data.coffee()[:100, :120],  # smaller than one 128 patch: skipped
    }


def test_stage_builds_index_stats_and_export(tmp_path, photos):
    data, srs = write_level_dataset(tmp_path, photos)
    shards = []
    for k in (0, 1):  # two shards of two images
        out = tmp_path / "rankdata" / "demo" / "shards" / "photos" / f"{k}.parquet"
        args = rankdata_shard_args(data, srs, out, "--shard", str(k), "--shard-size", "2")
        assert main(args) == 0
        shards.append(out)
    root = tmp_path / "rankdata" / "demo"
    assert main(rankdata_gather_args(root, shards, "--seed", "1")) == 0

    index = pd.read_parquet(root / "index.parquet")
    assert list(index.columns[:12]) == [
        "image",
        "dataset",
        "x",
        "y",
        "size",
        "method",
        "level",
        "path",
        "score",
        "label",
        "metric",
        "split",
    ]
    assert {"sharpness", "niqe_gap", "sha256", "hr_sha256"} <= set(index.columns)
    assert set(index["image"]) <= {"astronaut", "chelsea", "coffee"}
    assert (index["size"] == SIZE).all() and (index["metric"] == "niqe").all()
    # one row per image x position x method, levels in the given order
    per_pos = index.groupby(["image", "y", "x"])["method"].apply(tuple)
    assert (per_pos == METHODS).all()
    assert index.groupby("method")["level"].first().to_dict() == {"blur": 0, "mild": 1, "sharp": 2}
    # grid: 256 -> rows 0, 64 (1:64:128 = 1, 65); selection rules recorded per row
    assert set(index["y"]) <= {0, 64} and set(index["x"]) <= {0, 64, 128}
    assert (index["sharpness"] >= 5).all() and (index["niqe_gap"] > 0.1).all()
    # paths are relative to the index's folder and name the full image of the right method
    for r in index.drop_duplicates(["image", "method"]).itertuples():
        p = (root / r.path).resolve()
        assert p == (tmp_path / "sr" / r.method / f"{r.image}.png").resolve()
        assert sha256_file(p) == r.sha256
    # the label of a row is the NIQE (Y, 4 px shave) of its crop: check one by hand
    from ranksrgan.rankdata.labels import label_metric
    from ranksrgan.rankdata.positions import to_unit_tensor

    r = index.iloc[4]
    img = levels(photos[r.image])[r.method][r.y : r.y + SIZE, r.x : r.x + SIZE]
    assert r.score == pytest.approx(label_metric("niqe")(to_unit_tensor(img)[None]).item())
    assert (index["label"] == index["score"]).all()  # NIQE: lower is better as it is
    # split by image: no image on both sides
    assert index.groupby("image")["split"].nunique().max() == 1

    stats = json.loads((root / "stats.json").read_text())
    assert stats["images"]["skipped_smaller_than_patch"] == 1
    assert stats["images"]["skipped"] == ["photos/tiny"]
    sel = stats["selection"]["total"]
    assert sel["grid"] >= sel["after_sharpness"] >= sel["after_niqe_gap"] >= sel["after_cap"]
    assert sel["after_cap"] == stats["positions"] == len(index) // 3
    pairs = {(p["lower_level"], p["higher_level"]): p for p in stats["label_order"]["pairs"]}
    assert set(pairs) == {("blur", "mild"), ("blur", "sharp"), ("mild", "sharp")}
    # a blurred photo is rated worse than the sharp one by NIQE at most positions
    assert pairs[("blur", "sharp")]["agree"] > pairs[("blur", "sharp")]["disagree"]
    assert sum(stats["label_order"]["orders_best_first"].values()) == stats["positions"]
    assert sum(stats["score_histograms"]["counts"]["sharp"]) == stats["positions"]
    images = pd.read_parquet(root / "images.parquet")
    assert images.set_index("image").loc["tiny", "status"] == "smaller than one patch"
    assert images["seed"].nunique() == 4

    out = tmp_path / "export"
    assert (
        main(["rankdata", "export", "--index", str(root / "index.parquet"), "--out", str(out)]) == 0
    )
    train = index[index["split"] == "train"]
    for m, tag in (("blur", "blur"), ("sharp", "sharp")):
        files = sorted((out / f"DF2K_train_patch_{tag}").iterdir())
        assert len(files) == (train["method"] == m).sum()
    lines = (out / "DF2K_train_patch_label.txt").read_text().splitlines()
    assert len(lines) == len(train)
    name, value = lines[0].split()
    first = train.iloc[0]
    assert name == f"photos_{first.image}_y{first.y:05d}_x{first.x:05d}_blur.png"
    assert float(value) == pytest.approx(first.label, abs=1e-6)
    val = (out / "DF2K_test_patch_label.txt").read_text().splitlines()
    n_val = len(list((out / "DF2K_test_patch_all").iterdir()))
    assert len(val) == (index["split"] == "val").sum() == n_val
    with pytest.raises(SystemExit):  # export never writes into an existing folder
        raise SystemExit(
            main(["rankdata", "export", "--index", str(root / "index.parquet"), "--out", str(out)])
        )


def test_shard_resumes_after_an_interruption(tmp_path, photos, monkeypatch):
    data, srs = write_level_dataset(tmp_path, {k: photos[k] for k in ("astronaut", "chelsea")})
    out = tmp_path / "shard.parquet"
    real = shard_mod.process_image
    calls = []

    def dies_on_second(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # a kill in the middle of the shard
        return real(*a, **k)

    monkeypatch.setattr(shard_mod, "process_image", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        main(rankdata_shard_args(data, srs, out))
    assert not out.exists() and not shard_mod.images_path(out).exists()  # nothing partial
    monkeypatch.setattr(
        shard_mod, "process_image", lambda *a, **k: calls.append(2) or real(*a, **k)
    )
    assert main(rankdata_shard_args(data, srs, out)) == 0
    assert calls == [1, 1, 2]  # the first image came from the partial file
    assert set(pd.read_parquet(out)["image"]) == {"astronaut", "chelsea"}
    # a changed rule invalidates the recorded rows: both images are computed again
    assert main(rankdata_shard_args(data, srs, out, "--max-per-image", "1")) == 0
    assert calls == [1, 1, 2, 2, 2]
    assert pd.read_parquet(out).groupby("image").size().max() == 3  # one position x 3 levels


def test_missing_sr_image_and_size_mismatch_stop_with_one_line(tmp_path, photos, capsys):
    data, srs = write_level_dataset(tmp_path, {k: photos[k] for k in ("astronaut", "chelsea")})
    out = tmp_path / "shard.parquet"
    sr = pd.read_parquet(srs["mild"])
    sr[sr["image"] != "chelsea"].to_parquet(srs["mild"])
    assert main(rankdata_shard_args(data, srs, out)) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "chelsea" in err and "method mild" in err

    sr.to_parquet(srs["mild"])
    small = tmp_path / "sr" / "sharp" / "chelsea.png"
    write_png(small, photos["chelsea"][:200, :300])  # the file disagrees with its HR image
    sharp = pd.read_parquet(srs["sharp"])  # ... and its manifest records the new file's hash
    sharp.loc[sharp["image"] == "chelsea", "sr_sha256"] = sha256_file(small)
    sharp.to_parquet(srs["sharp"])
    assert main(rankdata_shard_args(data, srs, out)) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "chelsea" in err and "method sharp" in err and "200x300" in err

    sharp = pd.read_parquet(srs["sharp"])
    sharp.loc[sharp["image"] == "astronaut", "height"] = 250  # the manifest says so too
    sharp.to_parquet(srs["sharp"])
    assert main(rankdata_shard_args(data, srs, out)) == 1
    err = capsys.readouterr().err.strip()
    assert "astronaut" in err and "method sharp" in err and "250x256" in err
    assert not out.exists()


def test_ma_labels_are_negated_scores(tmp_path, photos):
    from ranksrgan.metrics.synthetic import write_synthetic_nrqm

    model = tmp_path / "NRQM_SYNTHETIC.mat"
    write_synthetic_nrqm(model, seed=0, n_trees=20)
    data, srs = write_level_dataset(tmp_path, {"astronaut": photos["astronaut"]})
    out = tmp_path / "ma.parquet"
    args = rankdata_shard_args(
        data, srs, out, "--metric", "ma", "--nrqm-model", str(model), "--max-per-image", "1"
    )
    assert main(args) == 0
    df = pd.read_parquet(out)
    assert len(df) == 3 and (df["metric"] == "ma").all()
    np.testing.assert_array_equal(df["label"], -df["score"])
    assert df["stand_in"].str.contains("SYNTHETIC NRQM").all()


def _flatten(path: Path, srs_manifest: Path, image: str, y: int, x: int) -> None:
    """Make one level's patch at (y, x) constant (a flat patch) and record the new hash."""
    from ranksrgan.io import read_image

    arr = read_image(path).copy()
    arr[y : y + SIZE, x : x + SIZE] = 128
    write_png(path, arr)
    sr = pd.read_parquet(srs_manifest)
    sr.loc[sr["image"] == image, "sr_sha256"] = sha256_file(path)
    sr.to_parquet(srs_manifest)


def test_a_flat_patch_drops_its_position_and_is_counted(tmp_path, photos, capsys):
    # Issue 22 item 7: NIQE is undefined on a flat patch. It used to fail the whole shard
    # ("image 21 of the batch of 60: image is flat"); now the position is dropped for every
    # method and counted in stats.json, as documented.
    data, srs = write_level_dataset(tmp_path, {k: photos[k] for k in ("astronaut", "chelsea")})
    # astronaut: the lowest level is flat at (0, 0): the label is undefined there
    _flatten(tmp_path / "sr" / "blur" / "astronaut.png", srs["blur"], "astronaut", 0, 0)
    # chelsea: the middle level is flat at (0, 64): the NIQE distance rule is undefined there
    _flatten(tmp_path / "sr" / "mild" / "chelsea.png", srs["mild"], "chelsea", 0, 64)
    root = tmp_path / "rankdata" / "flat"
    shard = root / "shards" / "photos" / "0.parquet"
    # batch 64: the flat patch shares its metric batch with the other patches
    assert main(rankdata_shard_args(data, srs, shard, "--max-per-image", "off")) == 0
    rows = pd.read_parquet(shard).set_index(["image", "y", "x", "method"])
    assert np.isnan(rows.loc[("astronaut", 0, 0, "blur"), "score"])
    assert np.isfinite(rows.loc[("astronaut", 0, 0, "sharp"), "score"])
    assert np.isfinite(rows["score"]).sum() == len(rows) - 1  # only the flat patch
    assert ("chelsea", 0, 64, "mild") not in rows.index
    images = pd.read_parquet(shard_mod.images_path(shard)).set_index("image")
    assert images.loc["chelsea", "n_gap_undefined"] == 1
    assert images.loc["astronaut", "n_gap_undefined"] == 0

    assert main(rankdata_gather_args(root, [shard])) == 0
    index = pd.read_parquet(root / "index.parquet")
    assert np.isfinite(index["score"]).all()
    at = index[(index["image"] == "astronaut") & (index["y"] == 0) & (index["x"] == 0)]
    assert at.empty  # the position is gone for every method, not only the flat one
    assert len(index) == 3 * (len(rows) // 3 - 1)
    stats = json.loads((root / "stats.json").read_text())
    assert stats["positions_dropped_non_finite_score"] == 1
    assert stats["positions_dropped_undefined"] == {"niqe_gap": 1, "label": 1}
    assert stats["positions"] == len(index) // 3


def test_flat_patch_with_the_rules_off_reaches_the_label(tmp_path, photos):
    # every rule off: the flat position reaches the labels at every level
    data, srs = write_level_dataset(tmp_path, {"coffee": photos["coffee"]})
    for m in METHODS:
        _flatten(tmp_path / "sr" / m / "coffee.png", srs[m], "coffee", 64, 64)
    root = tmp_path / "rankdata" / "flat"
    shard = root / "shards" / "0.parquet"
    off = ("--sharpness-min", "off", "--niqe-gap-min", "off", "--max-per-image", "off")
    assert main(rankdata_shard_args(data, srs, shard, *off)) == 0
    rows = pd.read_parquet(shard)
    flat = rows[(rows["y"] == 64) & (rows["x"] == 64)]
    assert len(flat) == 3 and flat["score"].isna().all()
    assert main(rankdata_gather_args(root, [shard])) == 0
    stats = json.loads((root / "stats.json").read_text())
    assert stats["positions_dropped_undefined"]["label"] == 1
    assert stats["positions"] == len(rows) // 3 - 1


def test_an_empty_rank_dataset_fails_at_gather(tmp_path, photos, capsys):
    # Issue 22 item 8: a patch size larger than every image left an empty index, exit 0.
    data, srs = write_level_dataset(tmp_path, {k: photos[k] for k in ("astronaut", "tiny")})
    root = tmp_path / "rankdata" / "big"
    shard = root / "shards" / "0.parquet"
    args = rankdata_shard_args(data, srs, shard)
    args[args.index("--size") + 1] = "512"
    assert main(args) == 0  # a shard of skipped images is fine: other shards may have patches
    assert main(rankdata_gather_args(root, [shard])) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(root / "index.parquet") in err and "rank dataset 'big' is empty" in err
    assert "all 2 images are smaller than one patch" in err
    assert not (root / "index.parquet").exists() and not (root / "stats.json").exists()

    # every position removed by a rule: the message gives the counts after each rule
    args = rankdata_shard_args(data, srs, shard, "--sharpness-min", "1e9")
    shard.unlink()
    assert main(args) == 0
    assert main(rankdata_gather_args(root, [shard])) == 1
    err = capsys.readouterr().err.strip()
    assert "rank dataset 'big' is empty: no position left of 2 images (1 smaller" in err
    assert "0 after sharpness" in err
    assert not (root / "index.parquet").exists()
