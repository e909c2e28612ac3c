"""Issue 22 item 6: a file whose recorded sha256 no longer matches is refused, not used.

The readers (sr shard: LR images; score shard: SR and HR images; rankdata shard: every level's
image; Ranker: the images of the rank index; rankdata export) check each file against the
hash its table recorded, hashing each file once per process (cached by its stat).
"""

from __future__ import annotations

import pandas as pd
import pytest
from skimage import data

from ranksrgan.cli import main
from ranksrgan.errors import RankSRGANError
from ranksrgan.io import sha256_file, write_png
from ranksrgan.io import verify as verify_mod
from ranksrgan.io.verify import cached_sha256, verify_sha256
from tests.support.rank_index import make_rank_index


def _replace(path, arr) -> None:
    """Rewrite an image in place with other pixels of the same size (its table not updated)."""
    write_png(path, arr)


# ---------------------------------------------------------------- the toolkit function


def test_verify_hashes_each_file_once_and_notices_a_rewrite(tmp_path, monkeypatch):
    p = tmp_path / "a.png"
    write_png(p, data.coffee()[:8, :8])
    calls = []
    real = verify_mod.sha256_file
    monkeypatch.setattr(verify_mod, "sha256_file", lambda f: calls.append(f) or real(f))
    verify_mod.clear_cache()
    want = sha256_file(p)
    for _ in range(3):
        assert verify_sha256(p, want, "t.parquet, image a") == want
    assert len(calls) == 1  # cached on the file's stat
    write_png(p, data.coffee()[8:16, :8])  # same size, new content (atomic: new inode)
    with pytest.raises(RankSRGANError) as exc:
        verify_sha256(p, want, "t.parquet, image a", "the data stage")
    msg = str(exc.value)
    assert msg.startswith(f"{p}: sha256 ") and "differs from" in msg
    assert "recorded in t.parquet, image a" in msg and "rerun the data stage" in msg
    assert len(calls) == 2
    assert verify_sha256(p, "", "t") == cached_sha256(p) == sha256_file(p)  # none recorded
    assert verify_sha256(p, None, "t") == sha256_file(p)


def test_verify_names_a_missing_file(tmp_path):
    with pytest.raises(RankSRGANError, match=r"gone\.png: file not found"):
        verify_sha256(tmp_path / "gone.png", "0" * 64, "t")


# ---------------------------------------------------------------- score shard


def _score_fixture(tmp_path):
    """Data + sr manifests of two photos, with their recorded hashes."""
    from ranksrgan.imresize import imresize

    rows, sr_rows = [], []
    for name in ("coffee", "chelsea"):
        hr = getattr(data, name)()[:48, :48]
        hp, sp = tmp_path / "HR" / f"{name}.png", tmp_path / "SR" / f"{name}.png"
        write_png(hp, hr)
        write_png(sp, imresize(imresize(hr, 0.25), 4.0))
        rows.append(
            {
                "image": name,
                "hr_path": str(hp),
                "lr_path": "",
                "height": 48,
                "width": 48,
                "hr_sha256": sha256_file(hp),
                "lr_sha256": "",
            }
        )
        sr_rows.append(
            {"image": name, "method": "bicubic", "path": str(sp), "sr_sha256": sha256_file(sp)}
        )
    pd.DataFrame(rows).to_parquet(tmp_path / "data.parquet")
    pd.DataFrame(sr_rows).to_parquet(tmp_path / "sr.parquet")


def _score(tmp_path, out, method="bicubic"):
    argv = ["score", "run", "--dataset", "toy", "--method", method]
    argv += ["--data-manifest", str(tmp_path / "data.parquet"), "--metrics", "psnr"]
    if method != "HR":
        argv += ["--sr-manifest", str(tmp_path / "sr.parquet")]
    return main([*argv, "--out", str(out)])


def test_score_shard_refuses_an_sr_or_hr_file_changed_after_its_manifest(tmp_path, capsys):
    _score_fixture(tmp_path)
    assert _score(tmp_path, tmp_path / "ok.parquet") == 0
    _replace(tmp_path / "SR" / "chelsea.png", data.chelsea()[48:96, :48])
    out = tmp_path / "s.parquet"
    assert _score(tmp_path, out) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "SR/chelsea.png: sha256" in err and "differs" in err
    assert f"{tmp_path / 'sr.parquet'} (sr manifest), image chelsea" in err
    assert not out.exists()

    _replace(tmp_path / "HR" / "coffee.png", data.coffee()[48:96, :48])
    assert _score(tmp_path, out, "HR") == 1
    err = capsys.readouterr().err.strip()
    assert "HR/coffee.png: sha256" in err and "(data manifest), image coffee" in err
    assert "rerun the data stage" in err and not out.exists()


# ---------------------------------------------------------------- rankdata shard


def test_rankdata_shard_refuses_an_sr_image_changed_after_its_manifest(tmp_path, capsys):
    from tests.support.rankdata_inputs import rankdata_shard_args, write_level_dataset

    photos = {"astronaut": data.astronaut()[:256, :256]}
    data_m, srs = write_level_dataset(tmp_path, photos)
    path = tmp_path / "sr" / "mild" / "astronaut.png"
    _replace(path, data.astronaut()[256:512, :256])
    out = tmp_path / "shard.parquet"
    assert main(rankdata_shard_args(data_m, srs, out, "--max-per-image", "1")) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{path}: sha256" in err and "differs" in err
    assert f"{srs['mild']} (sr manifest), image astronaut (method mild)" in err
    assert not out.exists()


# ---------------------------------------------------------------- Ranker and export


def _index_with_hashes(root):
    index = make_rank_index(root, photos=(("astronaut", "train"), ("coffee", "val")))
    df = pd.read_parquet(index)
    df["sha256"] = [sha256_file(index.parent / p) for p in df["path"]]
    df.to_parquet(index)
    return index


def test_ranker_refuses_an_image_changed_after_the_index(tmp_path):
    from ranksrgan.ranker.index import read_rank_index

    index = _index_with_hashes(tmp_path)
    assert len(read_rank_index(index).files) == 6
    path = tmp_path / "sr" / "blur1" / "coffee.png"
    _replace(path, data.coffee()[200:296, 200:296])
    with pytest.raises(RankSRGANError) as exc:
        read_rank_index(index)
    msg = str(exc.value)
    assert "sr/blur1/coffee.png: sha256" in msg and "differs" in msg
    assert f"{index} (rank index), image coffee method blur1" in msg
    assert "rerun the rankdata stage" in msg


def test_export_refuses_an_image_changed_after_the_index(tmp_path, capsys):
    index = _index_with_hashes(tmp_path / "w")
    _replace(tmp_path / "w" / "sr" / "sharp" / "astronaut.png", data.astronaut()[200:296, :96])
    out = tmp_path / "export"
    assert main(["rankdata", "export", "--index", str(index), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert "sharp/astronaut.png: sha256" in err and "image astronaut method sharp" in err
    assert not out.exists()


def test_training_refuses_an_hr_image_changed_after_its_manifest(tmp_path):
    """The GAN trainer's decoded-patch cache is keyed on the manifest's hashes: a file that no
    longer matches them stops the build before anything is decoded, naming file and image."""
    from ranksrgan.train.data import PatchCache
    from tests.support.train_inputs import make_dataset

    m = make_dataset(tmp_path, "tr", photos=("astronaut", "coffee"), max_side=64)
    df = pd.read_parquet(m)
    df["hr_sha256"] = [sha256_file(p) for p in df["hr_path"]]
    df["lr_sha256"] = [sha256_file(p) for p in df["lr_path"]]
    df.to_parquet(m, index=False)
    PatchCache.build([m], tmp_path / "cache_ok")  # the recorded files: fine
    hr = df["hr_path"].iloc[1]
    _replace(hr, data.astronaut()[:64, :64])
    with pytest.raises(RankSRGANError, match=r"coffee") as e:
        PatchCache.build([m], tmp_path / "cache_changed")
    assert hr in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "cache_changed").exists() or not any(
        (tmp_path / "cache_changed").rglob("*.npy"))
