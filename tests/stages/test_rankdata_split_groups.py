"""Split groups (rankdata.<name>.split.groups, ``--group``): near-duplicate source images (a
stereo pair) always land in the same split; without groups the draw is the ungrouped one."""

from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skimage.data
import yaml

from ranksrgan.cli import build_parser, main
from ranksrgan.config import validate_config
from ranksrgan.errors import RankSRGANError
from ranksrgan.rankdata.split import assign_split, group_of, n_validation
from tests.support import REPO
from tests.support.rankdata_inputs import rankdata_gather_args, write_level_dataset

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
PAIR = ("im03", "im04")


def _index(n_images: int, per_image: int = 3, dataset: str = "d") -> pd.DataFrame:
    rows = [
        {"dataset": dataset, "image": f"im{i:02d}", "y": k * 10, "x": 0, "level": lv}
        for i in range(n_images)
        for k in range(per_image)
        for lv in range(3)
    ]
    return pd.DataFrame(rows)


def _split_of(index: pd.DataFrame, split: pd.Series) -> dict[str, str]:
    per = split.groupby(index["image"]).agg(lambda s: "/".join(sorted(set(s))))
    return per.to_dict()


def _ungrouped_reference(index: pd.DataFrame, fraction: float, seed: int) -> pd.Series:
    """The split by image as it was before groups existed (the draw must not change)."""
    keys = ["dataset", "image"]
    units = index[keys].drop_duplicates().sort_values(keys, kind="stable").reset_index(drop=True)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(units), size=n_validation(len(units), fraction), replace=False)
    units["_split"] = "train"
    units.loc[chosen, "_split"] = "val"
    merged = index[keys].merge(units, on=keys, how="left", validate="many_to_one")
    return pd.Series(merged["_split"].to_numpy(), index=index.index, name="split")


def test_a_group_is_never_split_across_train_and_val():
    index = _index(8)
    lands = set()
    for seed in range(40):
        per = _split_of(index, assign_split(index, "image", 0.25, seed, groups=[PAIR]))
        assert "/" not in per[PAIR[0]]  # one image is never on both sides either
        assert per[PAIR[0]] == per[PAIR[1]], seed
        lands.add(per[PAIR[0]])
    assert lands == {"train", "val"}  # the group is drawn, not parked in train
    # the same draws without the group separate the pair for some seed: the test can fail
    ungrouped = [_split_of(index, assign_split(index, "image", 0.25, s)) for s in range(40)]
    assert any(per[PAIR[0]] != per[PAIR[1]] for per in ungrouped)


def test_a_group_counts_once_towards_the_validation_fraction():
    index = _index(10)
    groups = [("im00", "im01", "im02"), ("im05", "im06")]
    for seed in range(20):
        split = assign_split(index, "image", 0.25, seed, groups=groups)
        per = _split_of(index, split)
        assert len({per[i] for i in groups[0]}) == 1 and len({per[i] for i in groups[1]}) == 1
        # 10 images = 7 units (each group counts once): round(0.25 * 7) = 2 units in val
        val_units = sum(per[g[0]] == "val" for g in groups)
        val_units += sum(per[f"im{i:02d}"] == "val" for i in (3, 4, 7, 8, 9))
        assert val_units == n_validation(7, 0.25) == 2, seed


def test_a_group_name_matches_the_image_in_every_source_dataset():
    index = pd.concat([_index(6, dataset="a"), _index(6, dataset="b")], ignore_index=True)
    for seed in range(10):
        split = assign_split(index, "image", 0.3, seed, groups=[PAIR])
        sides = split[index["image"].isin(PAIR)]
        assert sides.nunique() == 1, seed  # im03/im04 of both datasets: one unit


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_without_groups_the_draw_is_the_ungrouped_one(seed):
    index = _index(13, per_image=2)
    pd.testing.assert_series_equal(
        assign_split(index, "image", 0.25, seed), _ungrouped_reference(index, 0.25, seed)
    )
    pd.testing.assert_series_equal(
        assign_split(index, "image", 0.25, seed, groups=[]),
        _ungrouped_reference(index, 0.25, seed),
    )


def test_group_mistakes_are_one_line_errors():
    index = _index(6)
    known = [f"im{i:02d}" for i in range(8)]  # im06, im07: sources that kept no patch
    # a source image without patches is fine in a group: it simply has no rows
    split = assign_split(index, "image", 0.3, 0, groups=[("im05", "im07")], known=known)
    assert len(split) == len(index)
    with pytest.raises(RankSRGANError, match=r"group 1 names image 'im99', which is no image"):
        assign_split(index, "image", 0.3, 0, groups=[("im01", "im99")], known=known)
    assert len(assign_split(index, "image", 0.3, 0, groups=[("im01", "im99")])) == len(index)
    with pytest.raises(RankSRGANError, match=r"image 'im02' is in groups 1 and 2"):
        group_of([("im01", "im02"), ("im02", "im03")])
    with pytest.raises(RankSRGANError, match=r"split\.groups needs split\.by: image"):
        assign_split(index, "patch", 0.3, 0, groups=[PAIR])


# --- config and workflow -------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_cfg() -> dict:
    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


def test_schema_accepts_groups_and_refuses_bad_ones(demo_cfg):
    cfg = copy.deepcopy(demo_cfg)
    split = cfg["rankdata"]["niqe"]["split"]
    split["groups"] = [["astronaut", "coffee"]]
    validate_config(copy.deepcopy(cfg), SCHEMA, "demo.yaml")
    bad = [
        (lambda s: s.update(groups=[["astronaut"]]), "is too short"),
        (lambda s: s.update(groups=[["a b", "c"]]), "does not match"),
        (lambda s: s.update(by="patch"), "split.groups': [['astronaut', 'coffee']] is expected"),
    ]
    for mutate, words in bad:
        c = copy.deepcopy(cfg)
        mutate(c["rankdata"]["niqe"]["split"])
        with pytest.raises(RankSRGANError) as exc:
            validate_config(c, SCHEMA, "demo.yaml")
        msg = str(exc.value)
        assert "\n" not in msg and "rankdata.niqe.split" in msg and words in msg, msg


def test_cli_group_flag_parses_and_refuses_a_single_name():
    parser = build_parser()
    base = ["rankdata", "gather", "--shard", "s.parquet", "--out", "i.parquet", "--images",
            "im.parquet", "--stats", "s.json"]
    args = parser.parse_args([*base, "--group", "a,b", "--group", "c, d,e"])
    assert args.group == [["a", "b"], ["c", "d", "e"]]
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--group", "a"])
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--group", "a,,b"])


def _photos() -> dict[str, np.ndarray]:
    ast = skimage.data.astronaut()
    return {
        "left": ast[:256, :256],
        "right": ast[:256, 8:264],  # the "stereo twin": the same scene shifted by 8 px
        "coffee": skimage.data.coffee()[100:356, 200:456],
        "chelsea": skimage.data.chelsea()[:256, :256],
    }


def test_gather_cli_keeps_a_group_together_and_records_it(tmp_path):
    data, srs = write_level_dataset(tmp_path, _photos(), methods=("blur", "sharp"))
    shard = tmp_path / "rd" / "shards" / "photos" / "0.parquet"
    args = ["rankdata", "shard", "--dataset", "photos", "--data-manifest", str(data),
            "--level", f"blur={srs['blur']}", "--level", f"sharp={srs['sharp']}",
            "--size", "128", "--stride", "64", "--sharpness-min", "off", "--niqe-gap-min",
            "off", "--max-per-image", "2", "--out", str(shard)]
    assert main(args) == 0
    root = tmp_path / "rd"

    def gather(seed: int, *extra: str) -> tuple[pd.DataFrame, dict]:
        argv = rankdata_gather_args(root, [shard], "--val-fraction", "0.25", "--seed", str(seed))
        assert main([*argv, *extra]) == 0
        return (pd.read_parquet(root / "index.parquet"),
                json.loads((root / "stats.json").read_text()))

    together, apart = set(), []
    for seed in range(12):
        index, stats = gather(seed, "--group", "left,right")
        sides = index.groupby("image")["split"].agg(set)
        assert sides["left"] == sides["right"] and len(sides["left"]) == 1, seed
        together.add(next(iter(sides["left"])))
        assert stats["split"]["groups"] == [["left", "right"]]
        images = pd.read_parquet(root / "images.parquet").set_index("image")
        assert images.loc["left", "split"] == images.loc["right", "split"]
        index, stats = gather(seed)
        sides = index.groupby("image")["split"].agg(set)
        apart.append(sides["left"] != sides["right"])
        assert stats["split"]["groups"] == []
    assert together == {"train", "val"} and any(apart)

    argv = ["rankdata", "gather", "--shard", str(shard), "--out", str(root / "x.parquet"),
            "--images", str(root / "xi.parquet"), "--stats", str(root / "xs.json"),
            "--group", "left,rihgt"]
    assert main(argv) == 1
    assert not (root / "x.parquet").exists()


def test_mini_workflow_passes_the_stereo_group_to_gather():
    """The mini config groups the stereo pair; the gather shell line carries it and parses."""
    import subprocess
    import sys

    cfg = yaml.safe_load((REPO / "config" / "mini.yaml").read_text())
    for name, rd in cfg["rankdata"].items():
        groups = rd["split"].get("groups") or []
        # every rank dataset with the stereo pair among its sources groups it
        photos = {Path(m).stem for d in rd["sources"] for m in cfg["datasets"][d]["members"]}
        has_pair = "demo_photos/train/*.png" in {m for d in rd["sources"]
                                                 for m in cfg["datasets"][d]["members"]}
        has_pair = has_pair or {"motorcycle_left", "motorcycle_right"} <= photos
        assert (["motorcycle_left", "motorcycle_right"] in groups) == has_pair, name
    target = "results/mini/rankdata/niqe/index.parquet"
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), target, "-n", "-p", "--forceall",
         "--nolock", "--configfile", "config/mini.yaml"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    line = next(ln for ln in out.splitlines() if "ranksrgan rankdata gather" in ln)
    argv = shlex.split(line.split("ranksrgan ", 1)[1].split(" > ")[0])
    args = build_parser().parse_args(argv)
    assert args.group == [["motorcycle_left", "motorcycle_right"]]
