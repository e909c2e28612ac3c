"""Safe, selective extraction of zip / tar / tar.gz archives.

Every member of the archive is checked before anything is written: absolute paths, ``..``
components, symbolic and hard links, and device/FIFO entries are rejected with one line naming
the archive and the member (a downloaded archive is untrusted input). Only regular files whose
name matches one of the dataset's globs are extracted. Globs match path segment by segment
(``*`` does not cross ``/``; a ``**`` segment matches any number of segments).
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from ranksrgan.errors import RankSRGANError

ARCHIVE_TYPES = ("zip", "tar", "tar.gz", "tgz")


@dataclass(frozen=True)
class Member:
    """A regular file inside an archive."""

    name: str  # normalised POSIX name (no leading "./")
    raw: object  # zipfile.ZipInfo or tarfile.TarInfo


def _norm(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name


def _check_name(archive: Path, name: str) -> None:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise RankSRGANError(f"{archive}: unsafe member '{name}' (absolute path)")
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        raise RankSRGANError(f"{archive}: unsafe member '{name}' ('..' path component)")


def match_glob(name: str, pattern: str) -> bool:
    """Whether a POSIX member name matches a glob, segment by segment (``**`` = any depth)."""
    return _match(PurePosixPath(name).parts, PurePosixPath(pattern).parts)


def _match(parts: tuple[str, ...], pats: tuple[str, ...]) -> bool:
    if not pats:
        return not parts
    if pats[0] == "**":
        return any(_match(parts[i:], pats[1:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pats[0]) and _match(parts[1:], pats[1:])


def _zip_members(archive: Path, zf: zipfile.ZipFile) -> list[Member]:
    out = []
    for info in zf.infolist():
        _check_name(archive, info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise RankSRGANError(f"{archive}: unsafe member '{info.filename}' (symbolic link)")
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            raise RankSRGANError(f"{archive}: unsafe member '{info.filename}' (device or FIFO)")
        if not info.is_dir():
            out.append(Member(_norm(info.filename), info))
    return out


def _tar_members(archive: Path, tf: tarfile.TarFile) -> list[Member]:
    out = []
    for info in tf.getmembers():
        _check_name(archive, info.name)
        if info.issym():
            raise RankSRGANError(f"{archive}: unsafe member '{info.name}' (symbolic link)")
        if info.islnk():
            raise RankSRGANError(f"{archive}: unsafe member '{info.name}' (hard link)")
        if info.isdev():
            raise RankSRGANError(f"{archive}: unsafe member '{info.name}' (device or FIFO)")
        if info.isfile():
            out.append(Member(_norm(info.name), info))
    return out


@contextlib.contextmanager
def open_archive(path: str | os.PathLike, kind: str) -> Iterator[tuple[object, list[Member]]]:
    """Open an archive and yield ``(handle, checked regular-file members)``."""
    p = Path(path)
    if kind not in ARCHIVE_TYPES:
        raise RankSRGANError(f"{p}: unknown archive type '{kind}' (known: {ARCHIVE_TYPES})")
    if not p.is_file():
        raise RankSRGANError(f"{p}: archive not found")
    try:
        if kind == "zip":
            with zipfile.ZipFile(p) as zf:
                yield zf, _zip_members(p, zf)
        else:
            with tarfile.open(p, "r:gz" if kind in ("tar.gz", "tgz") else "r:") as tf:
                yield tf, _tar_members(p, tf)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise RankSRGANError(f"{p}: corrupt or unreadable {kind} archive ({exc})") from None


def select(members: Sequence[Member], patterns: Sequence[str]) -> list[Member]:
    """Members matching any of the globs, sorted by name."""
    return sorted((m for m in members if any(match_glob(m.name, g) for g in patterns)),
                  key=lambda m: m.name)


def list_members(path: str | os.PathLike, kind: str, patterns: Sequence[str]) -> list[str]:
    """Names of the (safe) regular-file members matching the globs, sorted."""
    with open_archive(path, kind) as (_, members):
        return [m.name for m in select(members, patterns)]


def _copy_member(handle: object, member: Member, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    src: IO[bytes] | None
    if isinstance(handle, zipfile.ZipFile):
        src = handle.open(member.raw)  # type: ignore[arg-type]
    else:
        assert isinstance(handle, tarfile.TarFile)
        src = handle.extractfile(member.raw)  # type: ignore[arg-type]
    if src is None:  # pragma: no cover - regular files always have data
        raise RankSRGANError(f"member '{member.name}' has no data")
    with src, open(target, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)


def iter_extracted(
    path: str | os.PathLike, kind: str, names: Sequence[str], workdir: str | os.PathLike
) -> Iterator[tuple[str, Path]]:
    """Extract the named members one at a time into ``workdir``; yield ``(name, file)``.

    Each file is deleted once the consumer moves on, so a dataset inside a huge archive never
    needs more than one extracted image on disk. Members come in archive order (sequential
    reads of a compressed tar).
    """
    wanted = set(names)
    p = Path(path)
    with open_archive(p, kind) as (handle, members):
        found = {m.name for m in members} & wanted
        if missing := sorted(wanted - found):
            raise RankSRGANError(f"{p}: member '{missing[0]}' not found in the archive")
        Path(workdir).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=workdir, prefix=".extract-") as tmp:
            for m in members:
                if m.name not in wanted:
                    continue
                target = Path(tmp, *PurePosixPath(m.name).parts)
                try:
                    _copy_member(handle, m, target)
                except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
                    raise RankSRGANError(f"{p}: cannot read member '{m.name}' ({exc})") from None
                try:
                    yield m.name, target
                finally:
                    target.unlink(missing_ok=True)


def extract_members(
    path: str | os.PathLike, kind: str, patterns: Sequence[str], dest: str | os.PathLike
) -> list[Path]:
    """Extract the members matching the globs under ``dest`` (same relative paths)."""
    d = Path(dest)
    out = []
    with open_archive(path, kind) as (handle, members):
        for m in select(members, patterns):
            target = d.joinpath(*PurePosixPath(m.name).parts)
            _copy_member(handle, m, target)
            out.append(target)
    return out
