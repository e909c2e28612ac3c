"""SR stage end to end on a small real manifest: shards, PNGs, resume, gather, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from skimage import data

from ranksrgan import archs
from ranksrgan.cli import main
from ranksrgan.errors import RankSRGANError
from ranksrgan.imresize import imresize
from ranksrgan.io import sha256_file, write_png
from ranksrgan.io.parquet import read_manifest
from ranksrgan.sr.gather import gather_shards
from ranksrgan.sr.inference import InferenceOptions
from ranksrgan.sr.shard import SHARD_COLUMNS, MethodSpec, Upscaler, run_shard, shard_rows

PHOTOS = {"coffee": data.coffee, "astronaut": data.astronaut, "chelsea": data.chelsea}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> str:
    """A data-stage-style manifest of three real photos (HR mod-cropped, MATLAB-bicubic LR)."""
    root = tmp_path_factory.mktemp("data")
    rows = []
    for name, load in PHOTOS.items():
        hr = load()[:64, :56]
        lr = imresize(hr, 0.25)
        hp, lp = root / "HR" / f"{name}.png", root / "LR_x4" / f"{name}.png"
        write_png(hp, hr)
        write_png(lp, lr)
        rows.append(
            {
                "image": name,
                "hr_path": str(hp),
                "lr_path": str(lp),
                "height": 64,
                "width": 56,
                "hr_sha256": sha256_file(hp),
                "lr_sha256": sha256_file(lp),
            }
        )
    path = root / "manifest.parquet"
    pd.DataFrame(rows).to_parquet(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def srresnet_weights(tmp_path_factory):
    """A tiny SRResNet's state dict + the training stage's G.json sidecar."""
    d = tmp_path_factory.mktemp("train")
    torch.manual_seed(3)
    net = archs.build("srresnet", nf=8, nb=2)
    torch.save(net.state_dict(), d / "G.pth")
    (d / "G.json").write_text(
        json.dumps(
            {
                "arch": "srresnet",
                "arch_options": {"nf": 8, "nb": 2},
                "stand_in": "demo-trained tiny model",
            }
        )
    )
    return d / "G.pth", net.eval()


def test_shards_follow_sorted_names(manifest):
    assert list(shard_rows(manifest, 0, 2)["image"]) == ["astronaut", "chelsea"]
    assert list(shard_rows(manifest, 1, 2)["image"]) == ["coffee"]
    with pytest.raises(RankSRGANError, match="shard 2 out of range"):
        shard_rows(manifest, 2, 2)


def test_bicubic_shards_and_gather(manifest, tmp_path):
    up = Upscaler(MethodSpec("bicubic", kind="bicubic"))
    out = tmp_path / "sr" / "bicubic" / "toy"
    shards = [out / "shards" / f"{k}.parquet" for k in range(2)]
    for k, s in enumerate(shards):
        run_shard(manifest, k, 2, out, s, up, progress=False)
    df = gather_shards(shards, out / "manifest.parquet", expected_images=3)
    assert list(df.columns) == SHARD_COLUMNS
    assert list(df["image"]) == ["astronaut", "chelsea", "coffee"]
    assert df["weights_sha256"].isna().all() and (df["stand_in"] == "").all()
    m = pd.read_parquet(manifest).set_index("image")
    for row in df.itertuples():
        got = np.asarray(Image.open(row.path))
        want = imresize(np.asarray(Image.open(m.loc[row.image, "lr_path"])), 4)
        assert np.array_equal(got, want) and got.shape == (64, 56, 3)


def test_network_shard_records_weights_and_stand_in(manifest, srresnet_weights, tmp_path):
    path, ref = srresnet_weights
    spec = MethodSpec(
        "srresnet",
        arch="srresnet",
        arch_options={"nf": 8, "nb": 2},
        weights=str(path),
        weights_sha256=sha256_file(path),
    )
    up = Upscaler(spec, device="cpu", opts=InferenceOptions(tile=8))
    df = run_shard(
        manifest,
        0,
        3,
        tmp_path / "out",
        tmp_path / "out" / "shards" / "0.parquet",
        up,
        progress=False,
    )
    assert set(df["weights_sha256"]) == {sha256_file(path)}
    assert set(df["stand_in"]) == {"demo-trained tiny model"}
    assert set(df["device"]) == {"cpu"} and set(df["precision"]) == {"fp32"}
    lr = np.asarray(
        Image.open(pd.read_parquet(manifest).set_index("image").loc["coffee", "lr_path"])
    )
    with torch.no_grad():
        y = ref(torch.from_numpy(lr.transpose(2, 0, 1).copy()).float().div(255)[None])
    want = y[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    got = np.asarray(Image.open(df.set_index("image").loc["coffee", "path"]))
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1  # tiling: float reorder only


def test_sidecar_arch_mismatch_is_reported(srresnet_weights):
    path, _ = srresnet_weights
    spec = MethodSpec(
        "srresnet", arch="srresnet", arch_options={"nf": 8, "nb": 3}, weights=str(path)
    )
    with pytest.raises(RankSRGANError, match="trained as srresnet"):
        Upscaler(spec, device="cpu")


def test_resume_skips_matching_images_only(manifest, tmp_path):
    calls = []

    class Counting(Upscaler):
        def __call__(self, lr, image=None):
            calls.append(lr.shape)
            return super().__call__(lr, image)

    up = Counting(MethodSpec("bicubic", kind="bicubic"))
    out, shard = tmp_path / "o", tmp_path / "o" / "shards" / "0.parquet"
    first = run_shard(manifest, 0, 3, out, shard, up, progress=False)
    assert len(calls) == 3
    second = run_shard(manifest, 0, 3, out, shard, up, progress=False)
    assert len(calls) == 3 and second.equals(first)
    (out / "chelsea.png").write_bytes(b"torn")  # a damaged output is recomputed
    run_shard(manifest, 0, 3, out, shard, up, progress=False)
    assert len(calls) == 4 and np.asarray(Image.open(out / "chelsea.png")).shape == (64, 56, 3)


def test_gather_rejects_inconsistent_shards(manifest, tmp_path):
    up = Upscaler(MethodSpec("bicubic", kind="bicubic"))
    s0 = tmp_path / "0.parquet"
    run_shard(manifest, 0, 2, tmp_path, s0, up, progress=False)
    with pytest.raises(RankSRGANError, match="appears in two shards"):
        gather_shards([s0, s0], tmp_path / "m.parquet")
    with pytest.raises(RankSRGANError, match="config expects 3"):
        gather_shards([s0], tmp_path / "m.parquet", expected_images=3)


def test_cli_run_gather_and_bad_weights(manifest, srresnet_weights, tmp_path, capsys):
    path, _ = srresnet_weights
    out = tmp_path / "sr" / "srresnet" / "toy"
    common = [
        "sr",
        "run",
        "--manifest",
        manifest,
        "--method",
        "srresnet",
        "--arch",
        "srresnet",
        "--arch-options",
        '{"nf": 8, "nb": 2}',
        "--weights",
        str(path),
        "--shard-size",
        "2",
        "--out-dir",
        str(out),
        "--device",
        "cpu",
        "--no-progress",
    ]
    for k in range(2):
        assert (
            main(common + ["--shard", str(k), "--shard-out", str(out / "shards" / f"{k}.parquet")])
            == 0
        )
    assert (
        main(
            [
                "sr",
                "gather",
                "--shard",
                str(out / "shards/0.parquet"),
                "--shard",
                str(out / "shards/1.parquet"),
                "--out",
                str(out / "manifest.parquet"),
                "--images",
                "3",
            ]
        )
        == 0
    )
    assert len(pd.read_parquet(out / "manifest.parquet")) == 3
    rc = main(
        common
        + ["--shard", "0", "--shard-out", str(tmp_path / "x.parquet"), "--weights-sha256", "f" * 64]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        rc == 1
        and err[-1].startswith("error: ")
        and "sha256 mismatch" in err[-1]
        and str(path) in err[-1]
    )
    assert not (tmp_path / "x.parquet").exists()


def _copy_manifest(manifest, root):
    """A private copy of the module's data (LR files + manifest with manifest-relative paths)."""
    import shutil

    src = Path(manifest).parent
    shutil.copytree(src, root)
    df = pd.read_parquet(root / "manifest.parquet")
    for c in ("hr_path", "lr_path"):
        df[c] = [str(Path(p).relative_to(src)) for p in df[c]]
    df.to_parquet(root / "manifest.parquet", index=False)
    return root / "manifest.parquet"


def test_resume_keys_on_the_lr_file_and_weights(manifest, srresnet_weights, tmp_path):
    # Issue 19 item 3 for sr sidecars: an LR replaced after a kill is upscaled again.
    m = _copy_manifest(manifest, tmp_path / "data")
    calls = []

    class Counting(Upscaler):
        def __call__(self, lr, image=None):
            calls.append(lr.shape)
            return super().__call__(lr, image)

    up = Counting(MethodSpec("bicubic", kind="bicubic"))
    out, shard = tmp_path / "o", tmp_path / "o" / "shards" / "0.parquet"
    run_shard(m, 0, 3, out, shard, up, progress=False)
    assert len(calls) == 3
    lr_new = np.ascontiguousarray(data.rocket()[:16, :14])
    write_png(tmp_path / "data" / "LR_x4" / "chelsea.png", lr_new)
    # the LR file changed but the manifest still has the old hash: refuse, one line
    with pytest.raises(RankSRGANError, match=r"chelsea\.png: sha256 .* differs .*data stage"):
        run_shard(m, 0, 3, out, shard, up, progress=False)
    df = pd.read_parquet(m)
    df.loc[df["image"] == "chelsea", "lr_sha256"] = sha256_file(
        tmp_path / "data" / "LR_x4" / "chelsea.png"
    )
    df.to_parquet(m, index=False)  # the data stage reran: new LR, new manifest
    got = run_shard(m, 0, 3, out, shard, up, progress=False).set_index("image")
    assert len(calls) == 4  # only chelsea again
    assert np.array_equal(np.asarray(Image.open(got.loc["chelsea", "path"])), imresize(lr_new, 4))
    # new weights for a network method: every image again
    path, _ = srresnet_weights
    spec = MethodSpec(
        "srresnet", arch="srresnet", arch_options={"nf": 8, "nb": 2}, weights=str(path)
    )
    net = Counting(spec, device="cpu")
    run_shard(m, 0, 3, out, shard, net, progress=False)
    assert len(calls) == 7
    run_shard(m, 0, 3, out, shard, net, progress=False)
    assert len(calls) == 7


def test_manifests_are_relative_and_load_from_another_cwd(manifest, tmp_path, monkeypatch):
    # Issue 19: paths in sr manifests are relative to the manifest, so any cwd works.
    _copy_manifest(manifest, tmp_path / "data")
    up = Upscaler(MethodSpec("bicubic", kind="bicubic"))
    monkeypatch.chdir(tmp_path / "data")
    out = Path("..") / "sr" / "bicubic"
    shards = [out / "shards" / f"{k}.parquet" for k in range(2)]
    for k, s in enumerate(shards):
        run_shard("manifest.parquet", k, 2, out, s, up, progress=False)
    assert pd.read_parquet(shards[1])["path"].tolist() == ["../coffee.png"]
    gather_shards(shards, out / "manifest.parquet", expected_images=3)
    stored = pd.read_parquet(tmp_path / "sr" / "bicubic" / "manifest.parquet")
    assert stored["path"].tolist() == ["astronaut.png", "chelsea.png", "coffee.png"]
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    got = read_manifest(tmp_path / "sr" / "bicubic" / "manifest.parquet", ("image", "path"))
    assert all(Path(p).is_file() for p in got["path"])


def test_missing_lr_file_is_one_line(manifest, tmp_path):
    m = _copy_manifest(manifest, tmp_path / "data")
    (tmp_path / "data" / "LR_x4" / "coffee.png").unlink()
    up = Upscaler(MethodSpec("bicubic", kind="bicubic"))
    with pytest.raises(RankSRGANError, match=r"coffee\.png: LR image of image coffee not found"):
        run_shard(m, 1, 2, tmp_path / "o", tmp_path / "o" / "s.parquet", up, progress=False)
