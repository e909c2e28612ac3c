"""Archive download: loopback HTTP server with validated Range resume, truncation, wrong hashes,
404s, mirrors, sizes, and the sha256 lock that pins only archives that open and list completely.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile

import pytest
from skimage import data

from ranksrgan.cli import main
from ranksrgan.data.download import download_archive
from ranksrgan.errors import RankSRGANError
from ranksrgan.io.fetch import read_lock, record_lock
from tests.support import sha256_bytes as sha
from tests.support.http_server import LoopbackServer

FAST = {"retries": 2, "backoff_s": 0.01, "timeout_s": 5}


@pytest.fixture(scope="module")
def payload() -> bytes:
    """A real zip (a PNG of a photo), ~100 kB, so the transfer spans several reads."""
    from PIL import Image

    png = io.BytesIO()
    Image.fromarray(data.chelsea()[:200, :200]).save(png, format="PNG")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("set/HR/chelsea.png", png.getvalue())
    return buf.getvalue()


def test_download_verifies_hash(server, tmp_path, payload):
    server.files["/a.zip"] = payload
    dest = tmp_path / "archives" / "a.zip"
    got = download_archive([server.url("/a.zip")], dest, sha256=sha(payload), **FAST)
    assert got == sha(payload) and dest.read_bytes() == payload
    assert not (tmp_path / "archives" / "a.zip.part").exists()
    assert not (tmp_path / "archives" / "sha256.lock").exists()  # hash came from the config


def test_dropped_connection_resumes_with_range(server, tmp_path, payload):
    server.files["/a.zip"] = payload
    server.drop_first["/a.zip"] = 30_000
    dest = tmp_path / "a.zip"
    download_archive([server.url("/a.zip")], dest, sha256=sha(payload), **FAST)
    assert dest.read_bytes() == payload
    assert server.requests == [("/a.zip", None), ("/a.zip", "bytes=30000-")]
    assert server.if_ranges[-1] is not None  # resumed under the stored ETag


def test_resume_from_part_file_of_an_earlier_run(server, tmp_path, payload):
    server.files["/a.zip"] = payload
    server.drop_first["/a.zip"] = 12345
    with pytest.raises(RankSRGANError):  # the first run is cut short and gives up
        download_archive([server.url("/a.zip")], tmp_path / "a.zip", sha256=sha(payload),
                         retries=0, timeout_s=5)
    assert (tmp_path / "a.zip.part").stat().st_size == 12345
    download_archive([server.url("/a.zip")], tmp_path / "a.zip", sha256=sha(payload), **FAST)
    assert (tmp_path / "a.zip").read_bytes() == payload
    assert server.requests[-1] == ("/a.zip", "bytes=12345-")


def test_complete_part_file_answered_416(server, tmp_path, payload):
    server.files["/a.zip"] = payload
    (tmp_path / "a.zip.part").write_bytes(payload)
    etag = f'"{sha(payload)[:16]}"'  # what the loopback server sends
    (tmp_path / "a.zip.part.json").write_text(json.dumps(
        {"url": server.url("/a.zip"), "etag": etag, "total": len(payload)}))
    download_archive([server.url("/a.zip")], tmp_path / "a.zip", sha256=sha(payload), **FAST)
    assert (tmp_path / "a.zip").read_bytes() == payload
    assert server.requests == [("/a.zip", f"bytes={len(payload)}-")]


def test_truncated_archive_without_length_is_refused_and_not_pinned(server, tmp_path, payload):
    """Issue 19 item 4: no Content-Length, sha256 null: the cut archive must not be pinned."""
    server.files["/a.zip"] = payload
    server.content_length = False
    server.truncate["/a.zip"] = 40_000
    dest = tmp_path / "archives" / "a.zip"
    with pytest.raises(RankSRGANError, match="not a complete zip archive") as exc:
        download_archive([server.url("/a.zip")], dest, sha256=None, **FAST)
    assert "\n" not in str(exc.value)
    assert not dest.exists() and not (tmp_path / "archives" / "a.zip.part").exists()
    assert read_lock(tmp_path / "archives" / "sha256.lock") == {}
    del server.truncate["/a.zip"]  # the server recovers: the whole archive is pinned
    download_archive([server.url("/a.zip")], dest, sha256=None, **FAST)
    assert read_lock(tmp_path / "archives" / "sha256.lock") == {"a.zip": sha(payload)}


def test_leftover_part_without_validator_is_not_resumed(server, tmp_path, payload):
    """Issue 19 item 4: a stale .part (no ETag/Last-Modified stored) is discarded."""
    server.files["/a.zip"] = payload
    (tmp_path / "a.zip.part").write_bytes(b"\0" * 5000)
    download_archive([server.url("/a.zip")], tmp_path / "a.zip", sha256=None, **FAST)
    assert (tmp_path / "a.zip").read_bytes() == payload
    assert server.requests == [("/a.zip", None)]
    assert read_lock(tmp_path / "sha256.lock") == {"a.zip": sha(payload)}


def test_existing_truncated_archive_is_replaced_before_pinning(server, tmp_path, payload):
    server.files["/a.zip"] = payload
    (tmp_path / "a.zip").write_bytes(payload[:50_000])  # e.g. left by an older version
    download_archive([server.url("/a.zip")], tmp_path / "a.zip", sha256=None, **FAST)
    assert (tmp_path / "a.zip").read_bytes() == payload
    assert read_lock(tmp_path / "sha256.lock") == {"a.zip": sha(payload)}


def test_archive_size_from_config(server, tmp_path, payload):
    server.files["/a.zip"] = payload
    with pytest.raises(RankSRGANError, match=f"the config says size {len(payload) - 1}"):
        download_archive([server.url("/a.zip")], tmp_path / "a.zip", size=len(payload) - 1,
                         **FAST)
    assert not (tmp_path / "a.zip").exists() and not (tmp_path / "sha256.lock").exists()
    download_archive([server.url("/a.zip")], tmp_path / "a.zip", size=len(payload), **FAST)
    assert (tmp_path / "a.zip").read_bytes() == payload


def test_server_without_range_support_restarts(server, tmp_path, payload):
    server.files["/a.zip"] = payload
    server.ranges = False
    server.drop_first["/a.zip"] = 20_000
    download_archive([server.url("/a.zip")], tmp_path / "a.zip", sha256=sha(payload), **FAST)
    assert (tmp_path / "a.zip").read_bytes() == payload


def test_wrong_hash_deletes_file_and_names_both_hashes(server, tmp_path, payload):
    server.files["/a.zip"] = payload[:-1] + b"!"
    dest = tmp_path / "a.zip"
    with pytest.raises(Exception) as exc:
        download_archive([server.url("/a.zip")], dest, sha256=sha(payload), **FAST)
    msg = str(exc.value)
    assert type(exc.value).__name__ == "RankSRGANError"
    assert "\n" not in msg and str(dest) in msg
    assert sha(payload) in msg and sha(server.files["/a.zip"]) in msg
    assert not dest.exists() and not (tmp_path / "a.zip.part").exists()


def test_404_is_a_clear_error_without_retries(server, tmp_path):
    dest = tmp_path / "missing.zip"
    with pytest.raises(Exception, match=r"missing\.zip: download failed .*HTTP 404") as exc:
        download_archive([server.url("/missing.zip")], dest, sha256=None, **FAST)
    assert "\n" not in str(exc.value)
    assert len(server.requests) == 1  # a 404 is permanent: no retry
    assert not dest.exists()


def test_mirrors_tried_in_order(server, tmp_path, payload):
    server.files["/good.zip"] = payload
    urls = [server.url("/gone.zip"), server.url("/good.zip")]
    download_archive(urls, tmp_path / "a.zip", sha256=sha(payload), **FAST)
    assert [p for p, _ in server.requests] == ["/gone.zip", "/good.zip"]


def test_bad_mirror_content_falls_through_to_next(server, tmp_path, payload):
    server.files["/bad.zip"] = b"not the archive"
    server.files["/good.zip"] = payload
    urls = [server.url("/bad.zip"), server.url("/good.zip")]
    download_archive(urls, tmp_path / "a.zip", sha256=sha(payload), **FAST)
    assert (tmp_path / "a.zip").read_bytes() == payload


def test_retries_exhausted_on_unreachable_host(tmp_path):
    with LoopbackServer() as srv:
        url = srv.url("/a.zip")
    # The server is closed: every attempt is refused; bounded by retries.
    with pytest.raises(Exception, match="after 3 attempts"):
        download_archive([url], tmp_path / "a.zip", sha256=None, **FAST)


def test_null_hash_recorded_in_lock_then_enforced(server, tmp_path, payload, caplog):
    server.files["/a.zip"] = payload
    dest = tmp_path / "archives" / "a.zip"
    lock = tmp_path / "archives" / "sha256.lock"
    record_lock(lock, "other.tar", "0" * 64)  # an existing entry must survive the merge
    with caplog.at_level(logging.WARNING):
        download_archive([server.url("/a.zip")], dest, sha256=None, **FAST)
    assert "UNVERIFIED ARCHIVE a.zip" in caplog.text
    assert read_lock(lock) == {"a.zip": sha(payload), "other.tar": "0" * 64}
    # A later run re-downloads (file deleted) and the server now serves other bytes.
    dest.unlink()
    server.files["/a.zip"] = payload + b"tampered"
    with pytest.raises(Exception, match=f"expected {sha(payload)} .*sha256.lock"):
        download_archive([server.url("/a.zip")], dest, sha256=None, **FAST)
    assert not dest.exists()


def test_existing_file_with_wrong_hash_is_replaced(server, tmp_path, payload):
    server.files["/a.zip"] = payload
    dest = tmp_path / "a.zip"
    dest.write_bytes(b"stale")
    download_archive([server.url("/a.zip")], dest, sha256=sha(payload), **FAST)
    assert dest.read_bytes() == payload


def test_file_url_relative_to_cwd(tmp_path, payload, monkeypatch):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.zip").write_bytes(payload)
    monkeypatch.chdir(tmp_path)
    download_archive(["file:src/a.zip"], "cache/a.zip", sha256=sha(payload), **FAST)
    assert (tmp_path / "cache" / "a.zip").read_bytes() == payload
    download_archive([f"file://{tmp_path}/src/a.zip"], "cache/b.zip", sha256=None, **FAST)
    assert read_lock(tmp_path / "cache" / "sha256.lock") == {"b.zip": sha(payload)}


def test_malformed_lock_is_an_error(tmp_path):
    (tmp_path / "sha256.lock").write_text("not a hash line\n")
    with pytest.raises(Exception, match=r"sha256\.lock:1: malformed"):
        read_lock(tmp_path / "sha256.lock")


def test_cli_download_and_error_exit(server, tmp_path, payload, capsys):
    server.files["/a.zip"] = payload
    out = tmp_path / "a.zip"
    args = ["data", "download", "--url", server.url("/a.zip"), "--out", str(out),
            "--retries", "1", "--backoff-s", "0.01", "--timeout-s", "5"]
    assert main(args + ["--sha256", sha(payload)]) == 0
    assert out.read_bytes() == payload
    out.unlink()
    assert main(args + ["--sha256", "f" * 64]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "sha256 mismatch" in err[-1]
    assert main(args + ["--sha256", "none", "--size", str(len(payload) + 7)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and f"the config says size {len(payload) + 7}" in err[-1]
    assert not out.exists()
