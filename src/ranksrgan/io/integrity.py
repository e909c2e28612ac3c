"""Verification of a downloaded or cached file: sha256 (full or prefix), size, content checks.

Everything here reads a file and says whether it is the one wanted; nothing downloads
(:mod:`ranksrgan.io.transport`) or decides what to reuse (:mod:`ranksrgan.io.fetch`).

- :func:`hash_matches`, :func:`expected_sha256`, :func:`name_hash_prefix`: a full sha256 or a
  prefix of >= 8 hex digits, possibly carried by the file name (``vgg19-dcbb9e9d.pth``).
- :func:`verify_file`: hash and size of a file against what is expected, one line when not.
- Content checks, for a file that no full sha256 pins: :func:`check_archive` (zip central
  directory + every member's CRC; tar iterated to its end-of-archive block, compressed streams
  decompressed to their end), :func:`check_torch_file` (torch zip archive with every record's
  CRC, or a legacy pickle that ``torch.load(weights_only=True)`` reads), :func:`check_mat_file`
  (a MATLAB file that reads completely). :data:`CHECKS` names them for the fetch command.

Each check raises :class:`~ranksrgan.errors.RankSRGANError` with one line naming the file.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.hashing import sha256_file

Check = Callable[[Path], object]

_CHUNK = 1 << 20
_HEX = re.compile(r"[0-9a-f]+")
_NAME_HASH = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$")
# torch.save's legacy (pre-1.6) format starts with the pickled magic number 0x1950a86a20f9469cfc6c.
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."


# --------------------------------------------------------------------------- hashes and sizes


def hash_matches(actual: str, expected: str) -> bool:
    """``expected`` is a full sha256 or a prefix of >= 8 hex digits of ``actual``."""
    return len(expected) >= 8 and actual.startswith(expected.lower())


def is_full_sha256(value: str | None) -> bool:
    """Whether ``value`` is a whole sha256 (64 hex digits), which pins a file's content."""
    return value is not None and len(value) == 64 and bool(_HEX.fullmatch(value.lower()))


def name_hash_prefix(path: str | os.PathLike) -> str | None:
    """The sha256 prefix embedded in a file name (``name-<hex>.pth``), if any."""
    m = _NAME_HASH.search(Path(path).name)
    return m.group(1) if m else None


def expected_sha256(value: str | None, where: str | os.PathLike) -> str | None:
    """``value`` as a lower-case hash to compare with, or None; a one-line error naming
    ``where`` when it is neither a full sha256 nor a prefix of >= 8 hex digits."""
    if not value:
        return None
    want = value.lower()
    if len(want) < 8 or len(want) > 64 or not _HEX.fullmatch(want):
        raise RankSRGANError(f"{where}: bad sha256 '{value}' (need >= 8 hex digits)")
    return want


def verify_file(
    path: str | os.PathLike,
    sha256: str | None = None,
    size: int | None = None,
    source: str = "expected",
) -> str:
    """Hash ``path`` and check it against ``sha256`` (full or prefix) and ``size`` (bytes).

    Returns the full sha256. Raises a one-line :class:`RankSRGANError` naming the file (and
    ``source``, where the hash came from) when the file is missing or either differs.
    """
    p = Path(path)
    if not p.is_file():
        raise RankSRGANError(f"{p}: file not found")
    if size is not None and p.stat().st_size != size:
        raise RankSRGANError(f"{p}: {p.stat().st_size} bytes, expected {size}")
    actual = sha256_file(p)
    if sha256 is not None and not hash_matches(actual, sha256):
        raise RankSRGANError(f"{p}: sha256 mismatch: {source} {sha256}, got {actual}")
    return actual


# --------------------------------------------------------------------------- content checks


def _check_zip(p: Path) -> int:
    try:
        with zipfile.ZipFile(p) as zf:
            n = len(zf.infolist())
            bad = zf.testzip()  # reads every member: CRC-32 and length of each
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
            RuntimeError, ValueError) as exc:
        raise RankSRGANError(f"{p}: not a complete zip archive ({exc})") from None
    if bad is not None:
        raise RankSRGANError(f"{p}: zip member {bad} fails its CRC check (corrupt archive)")
    return n


class _Recorder:
    """Read-only stream wrapper that counts bytes and keeps the last few MiB read."""

    _KEEP = 1 << 21

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.pos = 0
        self.window = bytearray()
        self.window_start = 0

    def read(self, n: int = -1) -> bytes:
        b = self.raw.read(n)
        self.window += b
        self.pos += len(b)
        if len(self.window) > 2 * self._KEEP:
            drop = len(self.window) - self._KEEP
            del self.window[:drop]
            self.window_start += drop
        return b

    def block_at(self, offset: int, n: int) -> bytes:
        """Bytes ``[offset, offset + n)`` of the stream (reads on as needed; short at EOF)."""
        while self.pos < offset + n and self.read(_CHUNK):
            pass
        lo = offset - self.window_start
        return bytes(self.window[max(lo, 0):max(lo, 0) + n]) if lo >= 0 else b""

    def drain(self) -> None:
        """Read to the end (a compressed stream's end marker and CRC are checked there)."""
        while self.raw.read(_CHUNK):
            pass


def _check_tar(p: Path, magic: bytes) -> int:
    opener: Callable[..., Any] | None = None
    if magic.startswith(b"\x1f\x8b"):
        opener = gzip.open
    elif magic.startswith(b"BZh"):
        opener = bz2.open
    elif magic.startswith(b"\xfd7zXZ\x00"):
        opener = lzma.open
    n = 0
    try:
        if opener is None:
            # Plain tar: seek from header to header (member data is not read).
            with tarfile.open(p, "r:") as tf:
                for _ in tf:
                    n += 1
                end = tf.offset
            with open(p, "rb") as fh:
                fh.seek(end)
                tail = fh.read(tarfile.BLOCKSIZE)
        else:
            with opener(p, "rb") as raw:
                rec = _Recorder(raw)
                with tarfile.open(fileobj=rec, mode="r|") as tf:  # type: ignore[call-overload]
                    for _ in tf:
                        n += 1
                    end = tf.offset
                tail = rec.block_at(end, tarfile.BLOCKSIZE)
                rec.drain()
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError) as exc:
        raise RankSRGANError(f"{p}: not a complete tar archive ({exc})") from None
    # tarfile ends its iteration silently at a missing or damaged header; a whole archive has
    # the end-of-archive zero block right after the last member.
    if len(tail) < tarfile.BLOCKSIZE or tail.count(0) != tarfile.BLOCKSIZE:
        raise RankSRGANError(
            f"{p}: tar archive is truncated or damaged after {n} members (no end-of-archive "
            f"block at byte {end})"
        )
    return n


def check_archive(path: str | os.PathLike) -> int:
    """Show that a zip or tar (plain, gz, bz2, xz) archive opens and lists completely.

    Zip: central directory read and every member decompressed with its CRC checked. Tar:
    iterated to the end-of-archive block; a compressed stream is decompressed to its end.
    Returns the number of members.

    Raises:
        RankSRGANError: one line naming the file and what is wrong.
    """
    p = Path(path)
    with open(p, "rb") as fh:
        magic = fh.read(6)
    if magic[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _check_zip(p)
    return _check_tar(p, magic)


def check_torch_file(path: str | os.PathLike) -> None:
    """Show that a weight file is a whole torch archive before it is cached.

    A zip archive (``torch.save`` since 1.6) must hold a ``data.pkl`` and pass every record's
    CRC; a legacy pickle file must be read by ``torch.load(weights_only=True)`` (never runs
    code). Anything else is refused.
    """
    p = Path(path)
    with open(p, "rb") as fh:
        head = fh.read(len(_TORCH_LEGACY_MAGIC))
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        _check_zip(p)
        with zipfile.ZipFile(p) as zf:
            if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in zf.namelist()):
                raise RankSRGANError(f"{p}: zip archive without data.pkl: not a torch file")
        return
    if head == _TORCH_LEGACY_MAGIC:
        import torch

        try:
            torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 (EOFError, UnpicklingError, RuntimeError...)
            raise RankSRGANError(
                f"{p}: legacy torch file does not load ({_first_line(exc)})"
            ) from None
        return
    raise RankSRGANError(f"{p}: not a torch zip/pickle archive")


def check_mat_file(path: str | os.PathLike) -> None:
    """Show that a MATLAB ``.mat`` file reads completely (a transfer cut short does not)."""
    import scipy.io

    try:
        scipy.io.loadmat(path)
    except Exception as exc:  # noqa: BLE001 (ValueError, OSError, EOFError, zlib/struct errors)
        raise RankSRGANError(f"{path}: not a complete .mat file ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]


# The content checks by the name the fetch command takes (``--check``), with the noun its
# messages use. ``nrqm`` (a real NRQM model, not the synthetic stand-in) lives with the model
# code: :func:`ranksrgan.metrics.models.check_nrqm_file`.
CHECKS: dict[str, tuple[Check, str]] = {
    "archive": (check_archive, "archive"),
    "torch": (check_torch_file, "weights file"),
    "mat": (check_mat_file, "model file"),
}
_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
_TORCH_SUFFIXES = (".pth", ".pt", ".ckpt")


def check_for_name(path: str | os.PathLike) -> str | None:
    """The content check a file name implies (``archive``, ``torch``, ``mat``), or None."""
    name = Path(path).name.lower()
    if name.endswith(_ARCHIVE_SUFFIXES):
        return "archive"
    if name.endswith(_TORCH_SUFFIXES):
        return "torch"
    if name.endswith(".mat"):
        return "mat"
    return None


__all__ = [
    "CHECKS",
    "Check",
    "check_archive",
    "check_for_name",
    "check_mat_file",
    "check_torch_file",
    "expected_sha256",
    "hash_matches",
    "is_full_sha256",
    "name_hash_prefix",
    "verify_file",
]
