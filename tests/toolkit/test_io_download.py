"""The project's one downloader (ranksrgan.io.transport) and its checks (ranksrgan.io.integrity)
against a loopback HTTP server.

Real small payloads: zips and tars of scikit-image photos, a torch state dict, a .mat file.
"""

from __future__ import annotations

import io
import json
import tarfile
import zipfile

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image
from skimage import data

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.integrity import check_archive, check_torch_file
from ranksrgan.io.transport import download
from tests.support import sha256_bytes as sha

FAST = {"retries": 2, "backoff_s": 0.01, "timeout_s": 5}


def _png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def photos() -> dict[str, bytes]:
    """Three PNGs of real photos, 20-60 kB each."""
    return {"chelsea.png": _png(data.chelsea()[:160, :160]),
            "camera.png": _png(data.camera()[:200, :200]),
            "coins.png": _png(data.coins()[:150, :150])}


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, b in files.items():
            zf.writestr(f"set/{name}", b)
    return buf.getvalue()


def _tar(files: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, b in files.items():
            info = tarfile.TarInfo(f"set/{name}")
            info.size = len(b)
            tf.addfile(info, io.BytesIO(b))
    return buf.getvalue()


# --------------------------------------------------------------------------- archive checks


def test_check_archive_accepts_whole_zip_and_tars(tmp_path, photos):
    for name, blob in [("a.zip", _zip(photos)), ("a.tar", _tar(photos)),
                       ("a.tar.gz", _tar(photos, "w:gz")), ("a.tar.bz2", _tar(photos, "w:bz2")),
                       ("a.tar.xz", _tar(photos, "w:xz"))]:
        (tmp_path / name).write_bytes(blob)
        assert check_archive(tmp_path / name) == 3, name


def test_check_archive_refuses_truncated_and_corrupt_zip(tmp_path, photos):
    blob = _zip(photos)
    (tmp_path / "cut.zip").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(RankSRGANError, match=r"cut\.zip: not a complete zip archive"):
        check_archive(tmp_path / "cut.zip")
    # One flipped byte inside the second member's data: the CRC check finds it.
    off = blob.index(photos["camera.png"]) + 5000
    bad = blob[:off] + bytes([blob[off] ^ 0xFF]) + blob[off + 1:]
    (tmp_path / "bad.zip").write_bytes(bad)
    with pytest.raises(RankSRGANError, match=r"set/camera\.png fails its CRC"):
        check_archive(tmp_path / "bad.zip")


def test_check_archive_refuses_tars_cut_anywhere(tmp_path, photos):
    blob = _tar(photos)
    first = 512 + -(-len(photos["chelsea.png"]) // 512) * 512  # header + padded data
    # Cut at a member boundary, Python's tarfile lists 1 member and says nothing.
    (tmp_path / "cut.tar").write_bytes(blob[:first])
    with tarfile.open(tmp_path / "cut.tar") as tf:
        assert len(tf.getmembers()) == 1
    with pytest.raises(RankSRGANError, match=r"cut\.tar: tar archive is truncated .* 1 members"):
        check_archive(tmp_path / "cut.tar")
    for cut in (first + 700, first + 512 + 700):
        (tmp_path / "cut.tar").write_bytes(blob[:cut])
        with pytest.raises(RankSRGANError, match=r"cut\.tar: (tar archive is|not a complete)"):
            check_archive(tmp_path / "cut.tar")
    gz = _tar(photos, "w:gz")
    (tmp_path / "cut.tar.gz").write_bytes(gz[: len(gz) - 300])
    with pytest.raises(RankSRGANError, match=r"cut\.tar\.gz: .*(not a complete|truncated)"):
        check_archive(tmp_path / "cut.tar.gz")
    (tmp_path / "junk.tar").write_bytes(b"no archive at all" * 100)
    with pytest.raises(RankSRGANError, match="junk.tar"):
        check_archive(tmp_path / "junk.tar")


def test_check_torch_file(tmp_path):
    state = {"w": torch.arange(20000, dtype=torch.float32), "b": torch.ones(3)}
    torch.save(state, tmp_path / "new.pth")
    torch.save(state, tmp_path / "old.pth", _use_new_zipfile_serialization=False)
    check_torch_file(tmp_path / "new.pth")
    check_torch_file(tmp_path / "old.pth")
    for name in ("new.pth", "old.pth"):
        blob = (tmp_path / name).read_bytes()
        (tmp_path / f"cut-{name}").write_bytes(blob[: len(blob) * 2 // 3])
        with pytest.raises(RankSRGANError, match=f"cut-{name}"):
            check_torch_file(tmp_path / f"cut-{name}")
    (tmp_path / "page.pth").write_bytes(b"<html>rate limited</html>")
    with pytest.raises(RankSRGANError, match="not a torch zip/pickle archive"):
        check_torch_file(tmp_path / "page.pth")


# --------------------------------------------------------------------------- transfers


def test_leftover_part_without_validator_is_discarded(server, tmp_path, photos):
    blob = _zip(photos)
    server.files["/a.zip"] = blob
    (tmp_path / "a.zip.part").write_bytes(b"junk from some other file" * 400)
    got = download([server.url("/a.zip")], tmp_path / "a.zip", check=check_archive, **FAST)
    assert got == sha(blob) and (tmp_path / "a.zip").read_bytes() == blob
    assert server.requests == [("/a.zip", None)]  # no Range request
    assert not (tmp_path / "a.zip.part").exists() and not (tmp_path / "a.zip.part.json").exists()


def test_interrupted_download_resumes_with_if_range(server, tmp_path, photos):
    blob = _zip(photos)
    server.files["/a.zip"] = blob
    server.drop_first["/a.zip"] = 30_000
    with pytest.raises(RankSRGANError, match="got 30000 bytes, the server announced"):
        download([server.url("/a.zip")], tmp_path / "a.zip", retries=0, timeout_s=5)
    meta = json.loads((tmp_path / "a.zip.part.json").read_text())
    assert meta["etag"].startswith('"') and meta["total"] == len(blob)
    assert not (tmp_path / "a.zip").exists()  # a partial file never sits at the final path
    download([server.url("/a.zip")], tmp_path / "a.zip", sha256=sha(blob), **FAST)
    assert (tmp_path / "a.zip").read_bytes() == blob
    assert server.requests[-1] == ("/a.zip", "bytes=30000-")
    assert server.if_ranges[-1] == meta["etag"]


def test_last_modified_is_a_validator_too(server, tmp_path, photos):
    blob = _zip(photos)
    server.files["/a.zip"] = blob
    server.etag, server.last_modified = False, True
    server.drop_first["/a.zip"] = 25_000
    download([server.url("/a.zip")], tmp_path / "a.zip", sha256=sha(blob), **FAST)
    assert server.requests == [("/a.zip", None), ("/a.zip", "bytes=25000-")]
    assert server.if_ranges[-1] == "Sat, 01 Jan 2000 00:00:00 GMT"


@pytest.mark.parametrize("server_honours_if_range", [True, False])
def test_part_whose_etag_changed_is_restarted(server, tmp_path, photos,
                                              server_honours_if_range):
    old, new = _zip(photos), _zip({"coins.png": photos["coins.png"]})
    server.files["/a.zip"] = old
    server.drop_first["/a.zip"] = 10_000
    with pytest.raises(RankSRGANError):
        download([server.url("/a.zip")], tmp_path / "a.zip", retries=0, timeout_s=5)
    assert (tmp_path / "a.zip.part").stat().st_size == 10_000
    server.files["/a.zip"] = new  # the file changed on the server between the runs
    server.if_range = server_honours_if_range
    got = download([server.url("/a.zip")], tmp_path / "a.zip", check=check_archive, **FAST)
    assert got == sha(new) and (tmp_path / "a.zip").read_bytes() == new
    # honoured: the server answers 200; ignored: its 206 is refused (total/ETag differ).
    want = [("/a.zip", None), ("/a.zip", "bytes=10000-")]
    if not server_honours_if_range:
        want.append(("/a.zip", None))
    assert server.requests == want


def test_content_length_mismatch_is_refused(server, tmp_path, photos):
    blob = _zip(photos)
    server.files["/a.zip"] = blob
    server.etag = False  # no validator: every attempt restarts and is cut again
    server.truncate["/a.zip"] = 30_000
    with pytest.raises(RankSRGANError) as exc:
        download([server.url("/a.zip")], tmp_path / "a.zip", **FAST)
    msg = str(exc.value)
    assert "\n" not in msg and server.url("/a.zip") in msg
    assert f"got 30000 bytes, the server announced {len(blob)} (after 3 attempts)" in msg
    assert not (tmp_path / "a.zip").exists() and len(server.requests) == 3


def test_config_size_is_checked(server, tmp_path, photos):
    blob = _zip(photos)
    server.files["/a.zip"] = blob
    with pytest.raises(RankSRGANError, match=f"got {len(blob)} bytes, the config says size"):
        download([server.url("/a.zip")], tmp_path / "a.zip", size=len(blob) + 1, **FAST)
    assert not (tmp_path / "a.zip").exists()
    download([server.url("/a.zip")], tmp_path / "a.zip", size=len(blob), **FAST)
    assert (tmp_path / "a.zip").read_bytes() == blob


def test_retries_succeed_after_transient_500(server, tmp_path, photos):
    blob = _zip(photos)
    server.files["/a.zip"] = blob
    server.fail_first["/a.zip"] = [500, 503]
    download([server.url("/a.zip")], tmp_path / "a.zip", sha256=sha(blob), **FAST)
    assert (tmp_path / "a.zip").read_bytes() == blob and len(server.requests) == 3


def test_mirror_list_falls_through_to_the_second_url(server, tmp_path, photos):
    blob = _zip(photos)
    server.files["/cut.zip"] = blob
    server.content_length = False  # the first mirror ends early and says nothing
    server.truncate["/cut.zip"] = 20_000
    server.files["/good.zip"] = blob
    urls = [server.url("/cut.zip"), server.url("/good.zip")]
    got = download(urls, tmp_path / "a.zip", check=check_archive, **FAST)
    assert got == sha(blob) and [p for p, _ in server.requests] == ["/cut.zip", "/good.zip"]
    # Persistent 500s on the first mirror: retried, then the second one.
    (tmp_path / "a.zip").unlink()
    server.requests.clear()
    server.fail_first["/cut.zip"] = [500] * 10
    download(urls, tmp_path / "a.zip", sha256=sha(blob), **FAST)
    assert [p for p, _ in server.requests] == ["/cut.zip"] * 3 + ["/good.zip"]


def test_nrqm_model_cut_short_is_not_kept(server, tmp_path):
    from ranksrgan.metrics.models import ensure_model_file

    buf = io.BytesIO()
    scipy.io.savemat(buf, {"linear": np.arange(4.0), "nodes": np.arange(20000.0)})
    server.files["/NRQM_model.mat"] = buf.getvalue()
    server.content_length = False
    server.truncate["/NRQM_model.mat"] = len(buf.getvalue()) // 2
    target = tmp_path / "models" / "NRQM_model.mat"
    with pytest.raises(RankSRGANError, match="not a complete .mat file") as exc:
        ensure_model_file(target, server.url("/NRQM_model.mat"), None, retries=0, timeout_s=5)
    assert "\n" not in str(exc.value) and not target.exists()
    del server.truncate["/NRQM_model.mat"]
    assert ensure_model_file(target, server.url("/NRQM_model.mat"), None, retries=0) == target
    assert target.read_bytes() == buf.getvalue()


def test_paper_config_pins_published_hashes(repo_root):
    """DIV2K, VGG19 and ESRGAN carry their published sha256 (and sizes where published)."""
    from ranksrgan.config import load_config, validate_config

    schema = repo_root / "workflow/schemas/config.schema.yaml"
    cfg = load_config(repo_root / "config/config.yaml", schema)
    div2k = cfg["archives"]["DIV2K_train_HR"]
    assert div2k["size"] == 3_530_603_713 and div2k["sha256"].startswith("9d0b9c46")
    for name in ("vgg19", "esrgan_x4_df2kost"):
        entry = cfg["weights"][name]
        assert len(entry["sha256"]) == 64 and f"-{entry['sha256'][:8]}." in entry["url"]
    cfg["weights"]["vgg19"]["sha256"] = "0" * 64  # a typo'd hash is caught at DAG load
    with pytest.raises(RankSRGANError, match=r"weights\.vgg19\.sha256.*prefix dcbb9e9d"):
        validate_config(cfg, schema, "config.yaml")
