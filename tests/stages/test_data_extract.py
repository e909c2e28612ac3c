"""Safe selective extraction: malicious members rejected, globs select, all archive types."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile

import pytest

from ranksrgan.data.download import download_archive
from ranksrgan.data.extract import extract_members, iter_extracted, list_members, match_glob
from ranksrgan.errors import RankSRGANError
from tests.support.http_server import LoopbackServer

FILES = {
    "set/HR/b.png": b"bbb",
    "set/HR/a.png": b"aaa",
    "set/HR/sub/c.png": b"ccc",
    "set/LR/a.png": b"lll",
    "set/readme.txt": b"hi",
}


def make_zip(path, files, extra=None):
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
        for info, content in extra or []:
            zf.writestr(info, content)
    return path


def make_tar(path, files, extra=None, mode="w"):
    with tarfile.open(path, mode) as tf:
        for name, content in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(content)
            tf.addfile(ti, io.BytesIO(content))
        for ti in extra or []:
            tf.addfile(ti)
    return path


@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz", "tgz"])
def test_glob_selects_members_sorted(tmp_path, kind):
    path = tmp_path / f"a.{kind}"
    if kind == "zip":
        make_zip(path, FILES)
    else:
        make_tar(path, FILES, mode="w:gz" if "g" in kind else "w")
    assert list_members(path, kind, ["set/HR/*.png"]) == ["set/HR/a.png", "set/HR/b.png"]
    assert list_members(path, kind, ["set/**/*.png"]) == [
        "set/HR/a.png", "set/HR/b.png", "set/HR/sub/c.png", "set/LR/a.png"]
    out = extract_members(path, kind, ["set/HR/*.png", "set/*.txt"], tmp_path / "x")
    assert sorted(p.relative_to(tmp_path / "x").as_posix() for p in out) == [
        "set/HR/a.png", "set/HR/b.png", "set/readme.txt"]
    assert (tmp_path / "x" / "set" / "HR" / "a.png").read_bytes() == b"aaa"
    assert not (tmp_path / "x" / "set" / "LR").exists()


def test_iter_extracted_one_file_at_a_time(tmp_path):
    path = make_zip(tmp_path / "a.zip", FILES)
    seen = []
    for name, file in iter_extracted(path, "zip", ["set/HR/b.png", "set/HR/a.png"], tmp_path / "w"):
        seen.append((name, file.read_bytes()))
        assert len([p for p in (tmp_path / "w").rglob("*") if p.is_file()]) == 1
    assert sorted(seen) == [("set/HR/a.png", b"aaa"), ("set/HR/b.png", b"bbb")]
    assert not [p for p in (tmp_path / "w").rglob("*") if p.is_file()]
    with pytest.raises(RankSRGANError, match="member 'set/nope.png' not found"):
        list(iter_extracted(path, "zip", ["set/nope.png"], tmp_path / "w"))


def test_leading_dot_slash_normalised(tmp_path):
    path = make_tar(tmp_path / "a.tar", {"./set/HR/a.png": b"aaa"})
    assert list_members(path, "tar", ["set/HR/*.png"]) == ["set/HR/a.png"]


@pytest.mark.parametrize("name,pattern,ok", [
    ("a/b/c.png", "a/b/*.png", True),
    ("a/b/x/c.png", "a/b/*.png", False),  # * does not cross a slash
    ("x/a/b/c.png", "a/b/*.png", False),  # anchored at the start
    ("a/b/x/y/c.png", "a/**/*.png", True),
    ("a/c.png", "a/**/*.png", True),
    ("a/b/c.PNG", "a/b/*.png", False),  # case-sensitive, like archive names
])
def test_match_glob(name, pattern, ok):
    assert match_glob(name, pattern) is ok


def _zip_symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    return info, target.encode()


def _tar_entry(name: str, kind: bytes, link: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = link
    return ti


ZIP_ATTACKS = {
    "zip-slip": ({"set/HR/a.png": b"a", "../x": b"evil"}, None, r"'\.\./x' \('\.\.' path"),
    "nested-slip": ({"set/HR/../../../x.png": b"evil"}, None, r"'set/HR/\.\./.*' \('\.\.' path"),
    "absolute": ({"/etc/x.png": b"evil"}, None, r"'/etc/x\.png' \(absolute path\)"),
    "symlink": ({"set/HR/a.png": b"a"}, [_zip_symlink("set/HR/l.png", "/etc/passwd")],
                r"'set/HR/l\.png' \(symbolic link\)"),
}


@pytest.mark.parametrize("attack", sorted(ZIP_ATTACKS))
def test_malicious_zip_rejected(tmp_path, attack):
    files, extra, pattern = ZIP_ATTACKS[attack]
    path = make_zip(tmp_path / "evil.zip", files, extra)
    for call in (lambda: list_members(path, "zip", ["set/HR/*.png"]),
                 lambda: extract_members(path, "zip", ["**"], tmp_path / "out")):
        with pytest.raises(RankSRGANError, match=r"evil\.zip: unsafe member " + pattern) as exc:
            call()
        assert "\n" not in str(exc.value)
    assert not (tmp_path / "x").exists() and not (tmp_path / "out").exists()


TAR_ATTACKS = {
    "zip-slip": (_tar_entry("../x", tarfile.REGTYPE), "'..' path component"),
    "absolute": (_tar_entry("/tmp/x.png", tarfile.REGTYPE), "absolute path"),
    "symlink": (_tar_entry("set/HR/l.png", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link"),
    "hardlink": (_tar_entry("set/HR/h.png", tarfile.LNKTYPE, "/etc/passwd"), "hard link"),
    "chardev": (_tar_entry("set/HR/d.png", tarfile.CHRTYPE), "device or FIFO"),
    "fifo": (_tar_entry("set/HR/f.png", tarfile.FIFOTYPE), "device or FIFO"),
}


@pytest.mark.parametrize("attack", sorted(TAR_ATTACKS))
def test_malicious_tar_rejected(tmp_path, attack):
    entry, reason = TAR_ATTACKS[attack]
    path = make_tar(tmp_path / "evil.tar", {"set/HR/a.png": b"a"}, [entry])
    with pytest.raises(RankSRGANError, match=rf"evil\.tar: unsafe member '.*' \({reason}"):
        extract_members(path, "tar", ["set/HR/*.png"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_malicious_archive_served_over_http_is_rejected(tmp_path):
    evil = make_zip(tmp_path / "src.zip", {"set/HR/a.png": b"a", "../x": b"evil"}).read_bytes()
    with LoopbackServer() as srv:
        srv.files["/evil.zip"] = evil
        dest = tmp_path / "cache" / "evil.zip"
        download_archive([srv.url("/evil.zip")], dest, sha256=hashlib.sha256(evil).hexdigest(),
                         retries=0, backoff_s=0, timeout_s=5)
    with pytest.raises(RankSRGANError, match=r"unsafe member '\.\./x'"):
        extract_members(dest, "zip", ["set/HR/*.png"], tmp_path / "out")
    assert not (tmp_path / "x").exists()


def test_corrupt_and_missing_archives(tmp_path):
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(RankSRGANError, match=r"bad\.zip: corrupt or unreadable zip"):
        list_members(tmp_path / "bad.zip", "zip", ["*"])
    (tmp_path / "bad.tar.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(RankSRGANError, match=r"bad\.tar\.gz: corrupt or unreadable tar\.gz"):
        list_members(tmp_path / "bad.tar.gz", "tar.gz", ["*"])
    with pytest.raises(RankSRGANError, match=r"none\.zip: archive not found"):
        list_members(tmp_path / "none.zip", "zip", ["*"])
    with pytest.raises(RankSRGANError, match="unknown archive type 'rar'"):
        list_members(tmp_path / "bad.zip", "rar", ["*"])
