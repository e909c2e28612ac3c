"""Dataset preparation (HR mod-crop, MATLAB-bicubic LR, manifest, resume) and the demo archive."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage import data

import ranksrgan.data.prepare as prepare_mod
from ranksrgan.cli import main
from ranksrgan.data.demo import build_demo_archive
from ranksrgan.data.prepare import MANIFEST_COLUMNS, prepare_dataset
from ranksrgan.errors import RankSRGANError
from ranksrgan.imresize import imresize_im2double
from ranksrgan.io import ImagePolicy, read_image, sha256_file


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    # Real photos with sizes that are not multiples of 4 (mod-crop must act).
    return {
        "coffee": data.coffee()[:101, :130],
        "astronaut": data.astronaut()[50:153, 60:187],
        "chelsea": data.chelsea()[:90, :66],
    }


@pytest.fixture
def archive(tmp_path, photos) -> Path:
    path = tmp_path / "set.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, arr in photos.items():
            zf.writestr(f"set/HR/{name}.png", png_bytes(arr))
        zf.writestr("set/LR/coffee.png", png_bytes(photos["coffee"][::4, ::4]))
        zf.writestr("set/readme.txt", b"not an image")
    return path


def run(archive, out, images=3, members=("set/HR/*.png",), **kw):
    return prepare_dataset("toy", archive, "zip", list(members), images, out,
                           out / "manifest.parquet", **kw)


def test_prepare_writes_hr_lr_and_manifest(tmp_path, archive, photos):
    out = tmp_path / "data" / "toy"
    df = run(archive, out)
    assert list(df.columns) == MANIFEST_COLUMNS
    assert list(df["image"]) == ["astronaut", "chelsea", "coffee"]  # sorted by id
    on_disk = pd.read_parquet(out / "manifest.parquet")  # paths relative to the manifest
    assert on_disk["hr_path"].tolist() == [f"HR/{i}.png" for i in df["image"]]
    assert on_disk["lr_path"].tolist() == [f"LR_x4/{i}.png" for i in df["image"]]
    paths = ["hr_path", "lr_path"]
    pd.testing.assert_frame_equal(on_disk.drop(columns=paths), df.drop(columns=paths))
    for row in df.itertuples():
        src = photos[row.image]
        h, w = src.shape[0] // 4 * 4, src.shape[1] // 4 * 4
        hr, lr = read_image(row.hr_path), read_image(row.lr_path)
        assert (row.height, row.width) == hr.shape[:2] == (h, w)
        assert np.array_equal(hr, src[:h, :w])  # mod-crop keeps the top-left
        assert np.array_equal(lr, imresize_im2double(src[:h, :w], 0.25))
        assert lr.shape[:2] == (h // 4, w // 4)
        assert row.hr_sha256 == sha256_file(row.hr_path)
        assert row.lr_sha256 == sha256_file(row.lr_path)
        assert row.hr_path == str(out / "HR" / f"{row.image}.png")
        assert row.lr_path == str(out / "LR_x4" / f"{row.image}.png")
    # No leftovers: only the per-pair resume records are hidden.
    assert [p.name for p in out.rglob(".*")] == [".sidecar"]
    assert sorted(p.name for p in (out / ".sidecar").iterdir()) == [
        "astronaut.json", "chelsea.json", "coffee.json"]


def test_count_mismatch_is_an_error(tmp_path, archive):
    with pytest.raises(RankSRGANError, match=r"set\.zip: dataset toy expects 4 images .* found 3"):
        run(archive, tmp_path / "out", images=4)
    assert not (tmp_path / "out" / "manifest.parquet").exists()


def test_resume_recomputes_only_missing_pairs(tmp_path, archive, monkeypatch):
    out = tmp_path / "toy"
    first = run(archive, out)
    (out / "LR_x4" / "chelsea.png").unlink()
    (out / "manifest.parquet").unlink()
    calls = []
    real = prepare_mod.imresize_im2double

    def counting(img, scale):
        calls.append(img.shape)
        return real(img, scale)

    monkeypatch.setattr(prepare_mod, "imresize_im2double", counting)
    second = run(archive, out)
    assert calls == [(88, 64, 3)]  # only chelsea
    pd.testing.assert_frame_equal(first, second)


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    return path


def test_changed_member_is_rebuilt_not_reused(tmp_path, photos, monkeypatch):
    """Issue 19 item 2: a member replaced by another photo of another size gives a new pair."""
    out = tmp_path / "toy"
    old = _zip(tmp_path / "v1.zip", {f"set/HR/{k}.png": png_bytes(v) for k, v in photos.items()})
    first = run(old, out).set_index("image")
    new_coffee = data.rocket()[:143, :178]  # another photo, another size (mod-crop 140 x 176)
    new = _zip(tmp_path / "v2.zip", {
        **{f"set/HR/{k}.png": png_bytes(v) for k, v in photos.items() if k != "coffee"},
        "set/HR/coffee.png": png_bytes(new_coffee),
    })
    calls = []
    real = prepare_mod.imresize_im2double

    def counting(img, scale):
        calls.append(img.shape)
        return real(img, scale)

    monkeypatch.setattr(prepare_mod, "imresize_im2double", counting)
    second = run(new, out).set_index("image")
    assert calls == [(140, 176, 3)]  # only the changed member is rebuilt
    row = second.loc["coffee"]
    assert (row.height, row.width) == (140, 176) != (first.loc["coffee"].height,
                                                     first.loc["coffee"].width)
    assert row.hr_sha256 != first.loc["coffee"].hr_sha256
    assert row.lr_sha256 != first.loc["coffee"].lr_sha256
    hr, lr = read_image(row.hr_path), read_image(row.lr_path)
    assert np.array_equal(hr, new_coffee[:140, :176])
    assert np.array_equal(lr, imresize_im2double(new_coffee[:140, :176], 0.25))
    assert row.hr_sha256 == sha256_file(row.hr_path)
    pd.testing.assert_frame_equal(second.drop("coffee"), first.drop("coffee"))
    side = json.loads((out / ".sidecar" / "coffee.json").read_text())
    assert side["key"]["member_sha256"] == hashlib.sha256(png_bytes(new_coffee)).hexdigest()
    assert side["key"]["image_policy"] == {"alpha": "error", "min_size": 1}
    assert side["key"]["scale"] == side["key"]["mod_crop"] == 4


def test_changed_image_policy_applies_to_every_image(tmp_path, photos):
    """Issue 19 item 2: after ``alpha: drop``, ``alpha: error`` must fail on the RGBA member."""
    rgba = np.dstack([photos["chelsea"], np.full(photos["chelsea"].shape[:2], 128, np.uint8)])
    path = _zip(tmp_path / "alpha.zip", {"set/HR/coffee.png": png_bytes(photos["coffee"]),
                                         "set/HR/chelsea.png": png_bytes(rgba)})
    out = tmp_path / "toy"
    df = run(path, out, images=2, policy=ImagePolicy(alpha="drop"))
    assert np.array_equal(read_image(df.set_index("image").loc["chelsea"].hr_path),
                          photos["chelsea"][:88, :64])
    with pytest.raises(RankSRGANError,
                       match=r"alpha\.zip: member 'set/HR/chelsea\.png': image has transparency"):
        run(path, out, images=2, policy=ImagePolicy(alpha="error"))
    # 'white' composites: a third policy gives other pixels, not the 'drop' pair.
    white = run(path, out, images=2, policy=ImagePolicy(alpha="white")).set_index("image")
    assert white.loc["chelsea"].hr_sha256 != df.set_index("image").loc["chelsea"].hr_sha256
    assert white.loc["coffee"].hr_sha256 == df.set_index("image").loc["coffee"].hr_sha256


def test_replaced_or_damaged_output_is_rebuilt(tmp_path, archive, photos):
    out = tmp_path / "toy"
    first = run(archive, out)
    # Another file put in place of an HR image: rebuilt, not listed with its new size.
    Image.fromarray(photos["coffee"][:8, :8]).save(out / "HR" / "astronaut.png")
    pd.testing.assert_frame_equal(first, run(archive, out))
    assert read_image(out / "HR" / "astronaut.png").shape == (100, 124, 3)
    # An unreadable resume record is only a lost cache.
    (out / ".sidecar" / "chelsea.json").write_text("{not json")
    pd.testing.assert_frame_equal(first, run(archive, out))
    assert json.loads((out / ".sidecar" / "chelsea.json").read_text())["height"] == 88


def test_corrupt_member_names_member(tmp_path, photos):
    path = tmp_path / "bad.zip"
    good = png_bytes(photos["coffee"])
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("set/HR/a.png", good)
        zf.writestr("set/HR/b.png", good[: len(good) // 3])
    with pytest.raises(RankSRGANError, match=r"bad\.zip: member 'set/HR/b\.png': corrupt") as e:
        prepare_dataset("toy", path, "zip", ["set/HR/*.png"], 2, tmp_path / "o",
                        tmp_path / "o" / "m.parquet")
    assert "\n" not in str(e.value) and ".extract-" not in str(e.value)


def test_too_small_member_names_member(tmp_path, photos):
    path = tmp_path / "small.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("s/HR/tiny.png", png_bytes(photos["coffee"][:10, :40]))
    with pytest.raises(RankSRGANError, match=r"member 's/HR/tiny\.png': image is 10x40, smaller"):
        prepare_dataset("toy", path, "zip", ["s/HR/*.png"], 1, tmp_path / "o",
                        tmp_path / "o" / "m.parquet", policy=ImagePolicy(min_size=16))
    with pytest.raises(RankSRGANError, match=r"'s/HR/tiny\.png': image is 10x40, too small for"):
        prepare_dataset("toy", path, "zip", ["s/HR/*.png"], 1, tmp_path / "o2",
                        tmp_path / "o2" / "m.parquet", scale=16)


def test_duplicate_image_ids_rejected(tmp_path, photos):
    path = tmp_path / "dup.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("s/a/x.png", png_bytes(photos["coffee"]))
        zf.writestr("s/b/x.png", png_bytes(photos["coffee"]))
    with pytest.raises(RankSRGANError, match="same image id 'x'"):
        prepare_dataset("toy", path, "zip", ["s/*/*.png"], 2, tmp_path / "o", tmp_path / "m.pq")


def test_cli_prepare(tmp_path, archive):
    out = tmp_path / "d"
    argv = ["data", "prepare", "--dataset", "toy", "--archive", str(archive), "--type", "zip",
            "--member", "set/HR/*.png", "--images", "3", "--out-dir", str(out),
            "--manifest", str(out / "manifest.parquet"), "--alpha", "error", "--min-size", "16"]
    assert main(argv) == 0
    assert len(pd.read_parquet(out / "manifest.parquet")) == 3


# --------------------------------------------------------------------------- demo archive

SPLITS = {"train": ["astronaut", "retina"], "val": ["camera"], "test": ["rocket"]}


def test_demo_archive_is_deterministic_and_laid_out(tmp_path):
    a = build_demo_archive(SPLITS, tmp_path / "a" / "demo.zip")
    b = build_demo_archive(SPLITS, tmp_path / "b" / "demo.zip")
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == [
            "demo_photos/train/astronaut.png", "demo_photos/train/retina.png",
            "demo_photos/val/camera.png", "demo_photos/test/rocket.png"]
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        sizes = {i.filename: Image.open(io.BytesIO(zf.read(i))).size for i in infos}
    assert sizes["demo_photos/train/retina.png"] == (512, 512)  # 1411 px cropped
    assert sizes["demo_photos/test/rocket.png"] == (512, 427)
    assert hashlib.sha256(a.read_bytes()).hexdigest() == sha256_file(a)


def test_demo_archive_errors(tmp_path):
    with pytest.raises(RankSRGANError, match="no photo 'nonexistent'"):
        build_demo_archive({"train": ["nonexistent"]}, tmp_path / "x.zip")
    with pytest.raises(RankSRGANError, match="'camera' is in both 'train' and 'val'"):
        build_demo_archive({"train": ["camera"], "val": ["camera"]}, tmp_path / "x.zip")
    with pytest.raises(RankSRGANError, match="smaller than the demo minimum 512"):
        build_demo_archive({"train": ["chelsea"]}, tmp_path / "x.zip", min_side=512)
    assert not (tmp_path / "x.zip").exists()


def test_demo_archive_through_download_and_prepare(tmp_path, monkeypatch):
    """The demo path end to end: build, 'download' via a relative file: URL, prepare."""
    from ranksrgan.data.download import download_archive

    monkeypatch.chdir(tmp_path)
    assert main(["data", "demo-source", "--out", "src/demo.zip",
                 "--split", "train=astronaut,coffee", "--split", "test=camera"]) == 0
    download_archive(["file:src/demo.zip"], "cache/archives/demo.zip", sha256=None,
                     retries=0, backoff_s=0, timeout_s=5)
    df = prepare_dataset("demo_test", "cache/archives/demo.zip", "zip",
                         ["demo_photos/test/*.png"], 1, Path("data/demo_test"),
                         "data/demo_test/manifest.parquet", policy=ImagePolicy(min_size=16))
    assert df["hr_path"].tolist() == ["data/demo_test/HR/camera.png"]  # relative, as given
    hr = read_image(df["hr_path"][0])
    assert hr.shape == (512, 512, 3)  # grayscale replicated by the image policy
