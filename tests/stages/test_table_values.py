"""Issue 22 item 5: file names and paths built from table values never leave their folder.

Every stage that turns a Parquet or manifest value into a file name (an image id, a method,
a dataset) refuses a value that is not a plain file name, and every relative ``path`` column
is refused when it leads outside its allowed root; each with one line naming the table and
the row, before anything is written.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from skimage import data

from ranksrgan.cli import main
from ranksrgan.errors import RankSRGANError
from ranksrgan.imresize import imresize
from ranksrgan.io import sha256_file, write_png
from ranksrgan.io.names import contained_path, plain_name, rank_index_root
from tests.support.rank_index import make_rank_index


def _files_named(root: Path, part: str) -> list[Path]:
    return [p for p in root.rglob("*") if part in p.name]


# ---------------------------------------------------------------- the toolkit functions


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("../../../../ESC", "path separator"),
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        ("..", "path separator|folder"),
        (".", "folder"),
        (".hidden", "starts with '.'"),
        ("", "empty"),
        ("a\0b", "control character"),
        ("x" * 201, "longer than 200 bytes"),
        (None, "missing"),
        (float("nan"), "missing"),
        (1.5, "not text"),
    ],
)
def test_plain_name_refuses_values_that_are_not_one_file_name(value, why):
    with pytest.raises(RankSRGANError, match=why) as exc:
        plain_name(value, "t.parquet", 7, "image")
    assert str(exc.value).startswith("t.parquet, row 7: image")
    assert "\n" not in str(exc.value)


def test_plain_name_accepts_ordinary_ids():
    assert plain_name("0801", "t", 0) == "0801"
    assert plain_name("img_01.x-y", "t", 0) == "img_01.x-y"
    assert plain_name(np.int64(12), "t", 0) == "12"
    assert plain_name(5, "t", 0) == "5"


def test_contained_path_keeps_subfolders_and_refuses_climbing_out(tmp_path):
    root = tmp_path / "R" / "data" / "set5"
    assert contained_path(root, "HR/baby.png", "m", 0) == str(root / "HR" / "baby.png")
    assert contained_path(root, "HR/../LR_x4/baby.png", "m", 0).endswith("LR_x4/baby.png")
    assert contained_path(root, "/abs/baby.png", "m", 0) == "/abs/baby.png"  # explicit
    with pytest.raises(RankSRGANError, match=r"m, row 3: hr_path '\.\./x\.png' leads outside"):
        contained_path(root, "../x.png", "m", 3, "hr_path")
    # a rank index's paths climb out of its own folder into the results folder, not beyond
    index = tmp_path / "R" / "rankdata" / "niqe" / "index.parquet"
    assert rank_index_root(index) == tmp_path / "R"
    base = index.parent
    contained_path(rank_index_root(index), "../../sr/esrgan/set5/baby.png", "i", 0, base=base)
    with pytest.raises(RankSRGANError, match="leads outside"):
        contained_path(rank_index_root(index), "../../../ESC.png", "i", 0, base=base)


# ---------------------------------------------------------------- rankdata export


@pytest.mark.parametrize("column", ["image", "dataset", "method"])
def test_export_refuses_a_value_that_is_not_a_plain_name(tmp_path, capsys, column):
    # The case: image '../../../../ESC' made export write PNGs outside --out.
    root = tmp_path / "w"
    index = make_rank_index(root, photos=(("astronaut", "train"), ("coffee", "val")))
    df = pd.read_parquet(index)
    df.loc[df["image"] == "coffee", column] = "../../../../ESC"
    df.to_parquet(index)
    out = tmp_path / "a" / "b" / "c" / "export"
    rc = main(["rankdata", "export", "--index", str(index), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1
    assert str(index) in err and f"{column} '../../../../ESC'" in err and "row " in err
    assert "not a plain file name" in err
    assert not _files_named(tmp_path, "ESC") and not _files_named(tmp_path, "esc")
    assert not out.exists()


def test_export_refuses_a_path_leaving_the_results_folder(tmp_path, capsys):
    root = tmp_path / "w"
    index = make_rank_index(root, photos=(("astronaut", "train"), ("coffee", "val")))
    df = pd.read_parquet(index)
    # the same image, reached through a folder outside the results folder root/
    outside = tmp_path / "outside" / "astronaut.png"
    outside.parent.mkdir()
    outside.write_bytes((root / "sr" / "sharp" / "astronaut.png").read_bytes())
    df.loc[(df["image"] == "astronaut") & (df["method"] == "sharp"), "path"] = str(
        Path("..", "..", "..", "outside", "astronaut.png")
    )
    df.to_parquet(index)
    out = tmp_path / "export"
    rc = main(["rankdata", "export", "--index", str(index), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1
    assert str(index) in err and "image 'astronaut'" in err and "leads outside" in err
    assert not out.exists()


def test_export_refuses_a_prefix_that_is_not_a_plain_name(tmp_path, capsys):
    index = make_rank_index(tmp_path / "w", photos=(("astronaut", "train"), ("coffee", "val")))
    out = tmp_path / "export"
    rc = main(["rankdata", "export", "--index", str(index), "--out", str(out), "--prefix", "../x"])
    assert rc == 1 and "--prefix '../x'" in capsys.readouterr().err
    assert not out.exists() and not _files_named(tmp_path, "x_train")


# ---------------------------------------------------------------- sr shard


def _data_manifest(root: Path, names=("coffee", "chelsea")) -> Path:
    """A data-stage layout under ``root``: HR/, LR_x4/ and a manifest with relative paths."""
    rows = []
    for name in names:
        hr = getattr(data, name)()[:32, :32]
        hp, lp = root / "HR" / f"{name}.png", root / "LR_x4" / f"{name}.png"
        write_png(hp, hr)
        write_png(lp, imresize(hr, 0.25))
        rows.append(
            {
                "image": name,
                "hr_path": f"HR/{name}.png",
                "lr_path": f"LR_x4/{name}.png",
                "height": 32,
                "width": 32,
                "hr_sha256": sha256_file(hp),
                "lr_sha256": sha256_file(lp),
            }
        )
    path = root / "manifest.parquet"
    pd.DataFrame(rows).to_parquet(path, index=False)
    return path


def _sr_run(manifest: Path, out_dir: Path) -> list[str]:
    return [
        "sr",
        "run",
        "--manifest",
        str(manifest),
        "--method",
        "bicubic",
        "--kind",
        "bicubic",
        "--shard",
        "0",
        "--shard-size",
        "2",
        "--device",
        "cpu",
        "--no-progress",
        "--out-dir",
        str(out_dir),
        "--shard-out",
        str(out_dir / "shards" / "0.parquet"),
    ]


def test_sr_shard_refuses_an_image_id_that_is_not_a_plain_name(tmp_path, capsys):
    m = _data_manifest(tmp_path / "R" / "data" / "set")
    df = pd.read_parquet(m)
    df.loc[1, "image"] = "../../ESC"  # would write R/sr/ESC.png and R/sr/bicubic/ESC.json
    df.to_parquet(m, index=False)
    out = tmp_path / "R" / "sr" / "bicubic" / "set"
    assert main(_sr_run(m, out)) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{m} (data manifest), row 1: image '../../ESC' is not a plain file name" in err
    assert not _files_named(tmp_path, "ESC") and not out.exists()


def test_sr_shard_refuses_an_lr_path_leaving_the_manifest_folder(tmp_path, capsys):
    m = _data_manifest(tmp_path / "R" / "data" / "set")
    (tmp_path / "R" / "data" / "other.png").write_bytes(
        (tmp_path / "R" / "data" / "set" / "LR_x4" / "coffee.png").read_bytes()
    )
    df = pd.read_parquet(m)
    df.loc[df["image"] == "coffee", "lr_path"] = "../other.png"
    df.to_parquet(m, index=False)
    out = tmp_path / "R" / "sr" / "bicubic" / "set"
    assert main(_sr_run(m, out)) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(m) in err and "image 'coffee'" in err and "lr_path '../other.png'" in err
    assert "leads outside" in err and not out.exists()


# ---------------------------------------------------------------- score shard


def _score_run(data_m: Path, sr_m: Path, out: Path) -> list[str]:
    return [
        "score",
        "run",
        "--dataset",
        "set",
        "--method",
        "bicubic",
        "--data-manifest",
        str(data_m),
        "--sr-manifest",
        str(sr_m),
        "--metrics",
        "psnr",
        "--out",
        str(out),
    ]


def _sr_manifest(root: Path, names=("coffee", "chelsea")) -> Path:
    """An sr-stage layout: the PNGs beside the manifest, paths relative to it."""
    rows = []
    for name in names:
        p = root / f"{name}.png"
        write_png(p, imresize(imresize(getattr(data, name)()[:32, :32], 0.25), 4.0))
        rows.append(
            {"image": name, "method": "bicubic", "path": f"{name}.png", "sr_sha256": sha256_file(p)}
        )
    path = root / "manifest.parquet"
    pd.DataFrame(rows).to_parquet(path, index=False)
    return path


def test_score_shard_refuses_paths_leaving_their_manifest_folder(tmp_path, capsys):
    data_root = tmp_path / "R" / "data" / "set"
    data_m = _data_manifest(data_root)
    sr_m = _sr_manifest(tmp_path / "R" / "sr" / "bicubic" / "set")
    out = tmp_path / "R" / "scores" / "s.parquet"
    assert main(_score_run(data_m, sr_m, out)) == 0  # the layout as the stages write it

    sr = pd.read_parquet(sr_m)
    sr.loc[sr["image"] == "chelsea", "path"] = "../../../data/set/HR/chelsea.png"  # exists
    sr.to_parquet(sr_m, index=False)
    out.unlink()
    assert main(_score_run(data_m, sr_m, out)) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{sr_m} (sr manifest), row 1 (image 'chelsea'): path" in err
    assert "leads outside" in err and not out.exists()

    sr = pd.read_parquet(sr_m)
    sr.loc[sr["image"] == "chelsea", "path"] = "chelsea.png"
    sr.to_parquet(sr_m, index=False)
    (tmp_path / "coffee.png").write_bytes((data_root / "HR" / "coffee.png").read_bytes())
    d = pd.read_parquet(data_m)
    d.loc[d["image"] == "coffee", "hr_path"] = "../../../coffee.png"  # R/data/set -> tmp_path
    d.to_parquet(data_m, index=False)
    assert main(_score_run(data_m, sr_m, out)) == 1
    err = capsys.readouterr().err.strip()
    assert f"{data_m} (data manifest), row 0 (image 'coffee'): hr_path" in err
    assert "leads outside" in err and not out.exists()


# ---------------------------------------------------------------- rankdata shard


def test_rankdata_shard_refuses_an_sr_path_leaving_its_manifest_folder(tmp_path, capsys):
    from tests.support.rankdata_inputs import rankdata_shard_args, write_level_dataset

    photos = {"astronaut": data.astronaut()[:256, :256]}
    data_m, srs = write_level_dataset(tmp_path, photos)
    sr = pd.read_parquet(srs["mild"])
    moved = tmp_path / "sr" / "astronaut_mild.png"  # beside the manifest's folder, not in it
    moved.write_bytes(Path(sr.loc[0, "path"]).read_bytes())
    sr.loc[0, "path"] = "../astronaut_mild.png"
    sr.to_parquet(srs["mild"])
    out = tmp_path / "shard.parquet"
    assert main(rankdata_shard_args(data_m, srs, out, "--max-per-image", "1")) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{srs['mild']} (sr manifest), row 0 (image 'astronaut'): path" in err
    assert "leads outside" in err and not out.exists()

    sr.loc[0, "path"] = str(moved)
    sr.loc[0, "image"] = "../astronaut"
    sr.to_parquet(srs["mild"])
    assert main(rankdata_shard_args(data_m, srs, out, "--max-per-image", "1")) == 1
    err = capsys.readouterr().err.strip()
    assert "row 0: image '../astronaut' is not a plain file name" in err


# ---------------------------------------------------------------- ranker (reader of the index)


def test_ranker_index_refuses_a_path_leaving_the_results_folder(tmp_path):
    from ranksrgan.ranker.index import read_rank_index

    root = tmp_path / "R"
    index = make_rank_index(root, photos=(("astronaut", "train"), ("coffee", "val")))
    assert len(read_rank_index(index).files) == 6
    outside = tmp_path / "elsewhere" / "coffee.png"
    outside.parent.mkdir()
    outside.write_bytes((root / "sr" / "sharp" / "coffee.png").read_bytes())
    df = pd.read_parquet(index)
    df.loc[(df["image"] == "coffee") & (df["method"] == "sharp"), "path"] = str(
        Path("..", "..", "..", "elsewhere", "coffee.png")
    )
    df.to_parquet(index)
    with pytest.raises(RankSRGANError, match=r"\(rank index\), row \d+ \(image 'coffee'\): path"):
        read_rank_index(index)


# ---------------------------------------------------------------- data prepare


@pytest.mark.parametrize("member", ["set/.hidden.png", "set/a\\b.png"])
def test_prepare_refuses_a_member_whose_id_is_not_a_plain_name(tmp_path, member):
    import io

    from PIL import Image

    from ranksrgan.data.prepare import prepare_dataset

    arc = tmp_path / "set.tar"
    buf = io.BytesIO()
    Image.fromarray(data.coffee()[:16, :16]).save(buf, format="PNG")
    with tarfile.open(arc, "w") as tf:
        info = tarfile.TarInfo(member)
        info.size = len(buf.getvalue())
        tf.addfile(info, io.BytesIO(buf.getvalue()))
    out = tmp_path / "data" / "set"
    with pytest.raises(RankSRGANError, match="not a plain file name") as exc:
        prepare_dataset("set", arc, "tar", ["set/*.png"], 1, out, out / "manifest.parquet")
    assert str(arc) in str(exc.value) and member in str(exc.value)
    assert not (out / "manifest.parquet").exists() and not (out / "HR").exists()


# ---------------------------------------------------------------- report inputs


def test_report_refuses_an_sr_path_leaving_its_manifest_folder(tmp_path):
    from ranksrgan.report.inputs import read_data_manifests, read_sr_manifests

    data_root = tmp_path / "R" / "data" / "set"
    data_m = _data_manifest(data_root)
    sr_m = _sr_manifest(tmp_path / "R" / "sr" / "bicubic" / "set")
    assert len(read_sr_manifests([sr_m])) == 2 and len(read_data_manifests([data_m])) == 1
    sr = pd.read_parquet(sr_m)
    sr.loc[0, "path"] = "../../../../../../../../etc/hostname"  # the crop figure reads it
    sr.to_parquet(sr_m, index=False)
    with pytest.raises(RankSRGANError, match=r"\(sr manifest\), row 0 \(image 'coffee'\)"):
        read_sr_manifests([sr_m])
    d = pd.read_parquet(data_m)
    d.loc[0, "hr_path"] = "../x.png"
    d.to_parquet(data_m, index=False)
    with pytest.raises(RankSRGANError, match="hr_path '../x.png' leads outside"):
        read_data_manifests([data_m])
