"""One download path (issue 23 item 5): an archive, a weights file and the NRQM model follow
the one cached-file policy (ranksrgan.io.fetch.fetch_cached) — reuse when the file verifies,
re-download when it is corrupt, a one-line error when the hash differs after download, and an
unhashed file pinned in the lock beside it — whether through their Python helpers or the one
fetch command, `ranksrgan data download`. The removed fetch commands say where they went.

Real small files (a zip of a photo, a torch state dict, an NRQM model in pyiqa's layout)
served by a loopback HTTP server.
"""

from __future__ import annotations

import functools
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import scipy.io
import torch
from PIL import Image
from skimage import data

from ranksrgan import weights
from ranksrgan.cli import main
from ranksrgan.data.download import download_archive
from ranksrgan.errors import RankSRGANError
from ranksrgan.io.fetch import read_lock
from ranksrgan.metrics.models import ensure_model_file
from ranksrgan.metrics.synthetic import SYNTHETIC_MARKER, build_synthetic_nrqm
from tests.support import sha256_bytes as sha

FAST = {"retries": 2, "backoff_s": 0.01, "timeout_s": 5}


def _zip(img) -> bytes:
    png = io.BytesIO()
    Image.fromarray(img).save(png, format="PNG")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("set/HR/photo.png", png.getvalue())
    return buf.getvalue()


def _torch(n: int) -> bytes:
    buf = io.BytesIO()
    torch.save({"conv.weight": torch.arange(float(n)).reshape(-1, 1, 1, 1)}, buf)
    return buf.getvalue()


@functools.cache
def _nrqm(seed: int, synthetic: bool = False) -> bytes:
    """An NRQM model in pyiqa's layout (3 forests of 2 trees); without the marker: 'real'."""
    mat = build_synthetic_nrqm(seed, n_trees=2)
    if not synthetic:
        mat.pop(SYNTHETIC_MARKER)
    buf = io.BytesIO()
    scipy.io.savemat(buf, mat, do_compression=True)
    return buf.getvalue()


@dataclass
class Kind:
    """One kind of downloaded file: its bytes, another valid file of the kind, where it is
    cached, its Python helper and the fetch command's --check."""

    name: str
    body: bytes
    other: bytes
    rel: str  # cached path under the cache folder
    helper: Callable[[str, Path, str | None], object]
    check: str


def _archive(url: str, cache: Path, sha256: str | None) -> object:
    return download_archive([url], cache / "archives" / "a.zip", sha256=sha256, **FAST)


def _weights(url: str, cache: Path, sha256: str | None) -> object:
    return weights.fetch({"url": url, "sha256": sha256}, cache, **FAST)


def _model(url: str, cache: Path, sha256: str | None) -> object:
    return ensure_model_file(cache / "metric_models" / "NRQM_model.mat", url, sha256, **FAST)


KINDS = {
    "archive": lambda: Kind("a.zip", _zip(data.chelsea()[:96, :96]),
                            _zip(data.coffee()[:96, :96]), "archives/a.zip", _archive,
                            "archive"),
    "weights": lambda: Kind("w.pth", _torch(3000), _torch(2000), "weights/w.pth", _weights,
                            "torch"),
    "nrqm": lambda: Kind("NRQM_model.mat", _nrqm(0), _nrqm(1),
                         "metric_models/NRQM_model.mat", _model, "nrqm"),
}


@pytest.fixture(params=list(KINDS))
def kind(request) -> Kind:
    return KINDS[request.param]()


def _cli(kind: Kind, url: str, cache: Path, sha256: str | None) -> int:
    return main(["data", "download", "--url", url, "--out", str(cache / kind.rel),
                 "--sha256", sha256 or "none", "--check", kind.check, "--retries", "2",
                 "--backoff-s", "0.01", "--timeout-s", "5"])


def _via(how: str, kind: Kind):
    """The kind's Python helper, or the fetch command (raising as the helper does)."""
    if how == "helper":
        return kind.helper

    def command(url: str, cache: Path, sha256: str | None) -> None:
        if _cli(kind, url, cache, sha256) != 0:
            raise RankSRGANError("the fetch command failed")

    return command


@pytest.mark.parametrize("how", ["helper", "command"])
@pytest.mark.parametrize("hashed", [True, False], ids=["sha256", "pinned"])
def test_reuse_when_verified_redownload_when_corrupt(server, tmp_path, kind, how, hashed):
    fetch = _via(how, kind)
    server.files[f"/{kind.name}"] = kind.body
    url, cache = server.url(f"/{kind.name}"), tmp_path / "cache"
    dest = cache / kind.rel
    sha256 = sha(kind.body) if hashed else None
    fetch(url, cache, sha256)
    assert dest.read_bytes() == kind.body and len(server.requests) == 1
    lock = read_lock(dest.with_name("sha256.lock"))
    # a hash from the caller needs no pin; without one the first download is pinned
    assert lock == ({} if hashed else {dest.name: sha(kind.body)})
    fetch(url, cache, sha256)  # verified in the cache: no request
    assert len(server.requests) == 1
    for corrupt in (kind.body[: len(kind.body) // 2],  # cut short
                    kind.body[:-1] + bytes([kind.body[-1] ^ 1])):  # one byte flipped
        dest.write_bytes(corrupt)
        fetch(url, cache, sha256)
        assert dest.read_bytes() == kind.body
    assert len(server.requests) == 3
    assert not dest.with_name(dest.name + ".part").exists()


@pytest.mark.parametrize("how", ["helper", "command"])
def test_hash_that_differs_after_download_is_one_line(server, tmp_path, kind, how, capsys):
    """The configured hash, then a pinned one: the server now serves another valid file."""
    server.files[f"/{kind.name}"] = kind.other
    url, cache = server.url(f"/{kind.name}"), tmp_path / "cache"
    dest = cache / kind.rel
    if how == "helper":
        with pytest.raises(RankSRGANError) as exc:
            kind.helper(url, cache, sha(kind.body))
        msg = str(exc.value)
    else:
        assert _cli(kind, url, cache, sha(kind.body)) == 1
        msg = capsys.readouterr().err.strip()
        assert msg.startswith("error: ")
    assert "\n" not in msg and "sha256 mismatch" in msg and str(dest) in msg and url in msg
    assert sha(kind.body) in msg and sha(kind.other) in msg
    assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()
    assert len(server.requests) == 1  # a wrong hash is not retried

    server.files[f"/{kind.name}"] = kind.body
    kind.helper(url, cache, None)  # pinned in the lock
    dest.unlink()
    server.files[f"/{kind.name}"] = kind.other
    with pytest.raises(RankSRGANError) as exc:
        kind.helper(url, cache, None)
    msg = str(exc.value)
    assert "\n" not in msg and f"expected {sha(kind.body)} ({dest.with_name('sha256.lock')})" in msg
    assert not dest.exists()


def test_a_missing_file_without_url_is_one_line(tmp_path, capsys):
    out = tmp_path / "metric_models" / "NRQM_model.mat"
    assert main(["data", "download", "--out", str(out), "--check", "nrqm"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: {out}: not found and no URL to download it from"


def test_nrqm_check_refuses_the_synthetic_stand_in(server, tmp_path, capsys):
    server.files["/NRQM_model.mat"] = _nrqm(0, synthetic=True)
    out = tmp_path / "NRQM_model.mat"
    rc = main(["data", "download", "--url", server.url("/NRQM_model.mat"), "--out", str(out),
               "--check", "nrqm", "--retries", "0"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "SYNTHETIC stand-in" in err and len(err.splitlines()) == 1
    assert not out.exists() and read_lock(tmp_path / "sha256.lock") == {}


def test_weights_name_prefix_through_the_command(server, tmp_path, capsys):
    body = _torch(500)
    good, bad = f"/net-{sha(body)[:8]}.pth", "/net-00000000.pth"
    server.files[good] = server.files[bad] = body
    args = ["data", "download", "--check", "torch", "--name-prefix", "--retries", "0"]
    out = tmp_path / "weights" / Path(bad).name
    assert main([*args, "--url", server.url(bad), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "sha256 mismatch" in err and "expected 00000000 (file-name prefix)" in err
    out = tmp_path / "weights" / Path(good).name
    assert main([*args, "--url", server.url(good), "--out", str(out)]) == 0
    assert out.read_bytes() == body and capsys.readouterr().out.strip() == str(out)


@pytest.mark.parametrize(
    "old", [["sr", "fetch-weights", "--url", "http://x/w.pth", "--cache-dir", "c"],
            ["train", "fetch-vgg19", "--url", "http://x/vgg19.pth", "--size=0", "--out", "o"],
            ["score", "nrqm-model", "--path", "m.mat", "--url", "http://x/NRQM_model.mat"]]
)
def test_removed_fetch_commands_name_the_one_command(old, capsys):
    assert main(old) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"error: `ranksrgan {old[0]} {old[1]}` was removed: every download "
                          "is `ranksrgan data download --url URL --out PATH")
