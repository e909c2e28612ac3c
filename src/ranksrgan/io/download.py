"""The one downloader of the project: mirrors, retries, validated resume, length/size/sha256
checks, content checks before a file is kept, and an atomic rename onto the final path.

Used by the data stage (archives), :mod:`ranksrgan.weights` (SR and VGG19 weights) and
:mod:`ranksrgan.metrics.models` (the NRQM model). A download streams into ``{dest}.part``;
``dest`` only ever appears by ``os.replace`` of a file that passed every check.

Resume is allowed only when it cannot splice two different files: beside the ``.part`` a small
JSON sidecar ``{dest}.part.json`` records the URL and the server's validator (a strong ETag or
Last-Modified) and the announced total. A resumed request sends ``Range`` + ``If-Range``: a 200
answer restarts from byte 0; a 206 whose ``Content-Range`` start or total, or whose ETag, differs
from what was stored is refused and restarted; a ``.part`` without a sidecar is discarded.

When nothing pins the content (no sha256), a ``check`` callable must show the file is whole
before it is kept: :func:`check_archive` (zip central directory + every member's CRC; tar
iterated to its end-of-archive block, compressed streams decompressed to their end) and
:func:`check_torch_file` (torch zip archive with every record's CRC, or a legacy pickle that
``torch.load(weights_only=True)`` reads).
"""

from __future__ import annotations

import bz2
import contextlib
import email.utils
import fcntl
import gzip
import http.client
import json
import logging
import lzma
import os
import re
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.atomic import write_bytes_atomic
from ranksrgan.io.hashing import sha256_file

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_LOCK_LINE = re.compile(r"^([0-9a-f]{64})\s+\*?(.+)$")
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")
# torch.save's legacy (pre-1.6) format starts with the pickled magic number 0x1950a86a20f9469cfc6c.
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."

Check = Callable[[Path], object]


class _Permanent(Exception):
    """This URL cannot deliver the file (404, bad scheme, wrong content): next mirror, no retry."""


class _Transient(Exception):
    """A failure worth retrying (timeouts, resets, 5xx, a body shorter than announced)."""


# --------------------------------------------------------------------------- sha256 lock file


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Exclusive advisory lock so that parallel download jobs merge their lock entries."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path.with_name(lock_path.name + ".flock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_lock(lock_path: str | os.PathLike) -> dict[str, str]:
    """Entries ``{file name: sha256}`` of a ``sha256sum``-format lock file (empty if absent)."""
    p = Path(lock_path)
    if not p.is_file():
        return {}
    entries: dict[str, str] = {}
    for n, line in enumerate(p.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        m = _LOCK_LINE.match(line.strip())
        if not m:
            raise RankSRGANError(f"{p}:{n}: malformed sha256 lock line (want '<sha256>  <file>')")
        entries[m.group(2)] = m.group(1)
    return entries


def record_lock(lock_path: str | os.PathLike, name: str, digest: str) -> None:
    """Add or replace the entry of ``name`` in the lock file, atomically, keeping the others."""
    p = Path(lock_path)
    with _locked(p):
        entries = read_lock(p)
        entries[name] = digest
        text = "".join(f"{h}  {n}\n" for n, h in sorted(entries.items()))
        write_bytes_atomic(p, text.encode())


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

    def __init__(self, raw: BinaryIO) -> None:
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
    opener = None
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
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise RankSRGANError(f"{p}: legacy torch file does not load ({first[:160]})") from None
        return
    raise RankSRGANError(f"{p}: not a torch zip/pickle archive")


# --------------------------------------------------------------------------- transfers


def _local_path(url: str) -> Path:
    """Path of a ``file:`` URL; ``file:rel/path`` is relative to the current directory."""
    rest = url[len("file:"):]
    if rest.startswith("//"):
        parsed = urllib.parse.urlparse(url)
        if parsed.netloc not in ("", "localhost"):
            raise _Permanent("file URL with a remote host")
        return Path(urllib.parse.unquote(parsed.path))
    return Path(urllib.parse.unquote(rest))


def _sidecar(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)
    _sidecar(part).unlink(missing_ok=True)


def _read_sidecar(part: Path) -> dict:
    try:
        meta = json.loads(_sidecar(part).read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _validator(headers: http.client.HTTPMessage) -> dict:
    """The resume validator of a response: a strong ETag, else a parseable Last-Modified."""
    etag = (headers.get("ETag") or "").strip()
    out: dict = {}
    if etag and not etag.startswith("W/"):  # If-Range needs a strong validator (RFC 9110)
        out["etag"] = etag
    lm = headers.get("Last-Modified")
    if lm:
        with contextlib.suppress(TypeError, ValueError):
            email.utils.parsedate_to_datetime(lm)
            out["last_modified"] = lm
    return out


def _copy_local(url: str, part: Path, progress: Callable[[int], None]) -> None:
    src = _local_path(url)
    if not src.is_file():
        raise _Permanent("file not found")
    _discard(part)
    total = src.stat().st_size
    with open(src, "rb") as fin, open(part, "wb") as fout:
        while block := fin.read(_CHUNK):
            fout.write(block)
            progress(len(block))
    got = part.stat().st_size
    if got != total:  # the source changed while it was copied
        _discard(part)
        raise _Transient(f"copied {got} bytes, the source has {total}")


def _open(url: str, headers: dict, timeout_s: float):
    req = urllib.request.Request(url, headers={"User-Agent": "ranksrgan/1", **headers})
    return urllib.request.urlopen(req, timeout=timeout_s)


def _http_error(url: str, exc: urllib.error.HTTPError) -> Exception:
    if exc.code in (408, 425, 429) or exc.code >= 500:
        return _Transient(f"HTTP {exc.code}")
    return _Permanent(f"HTTP {exc.code} {exc.reason}")


def _fetch_http(url: str, part: Path, timeout_s: float, progress: Callable[[int], None]) -> None:
    """Fetch ``url`` into ``part``: resume only under a stored validator, check the length."""
    meta = _read_sidecar(part)
    have = part.stat().st_size if part.exists() else 0
    valid = meta.get("url") == url and (meta.get("etag") or meta.get("last_modified"))
    if have and not valid:
        log.warning("%s: partial file without a validator for this URL; starting from byte 0",
                    part)
        _discard(part)
        have, meta = 0, {}
    elif not have:
        _discard(part)
        meta = {}

    for _ in range(2):  # a refused resume restarts once from byte 0 in the same attempt
        headers = {}
        if have:
            headers["Range"] = f"bytes={have}-"
            headers["If-Range"] = meta.get("etag") or meta["last_modified"]
        try:
            resp = _open(url, headers, timeout_s)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:
                m = re.match(r"\s*bytes \*/(\d+)", exc.headers.get("Content-Range") or "")
                total = int(m.group(1)) if m else None
                if total == have and meta.get("total") in (None, have):
                    return  # the .part is already complete
                log.warning("%s: HTTP 416 for a %d-byte partial file; restarting", url, have)
                _discard(part)
                have, meta = 0, {}
                continue
            raise _http_error(url, exc) from None
        with resp:
            status = resp.status
            length = resp.headers.get("Content-Length")
            length = int(length) if length is not None and length.strip().isdigit() else None
            if status == 206 and have:
                m = _CONTENT_RANGE.match(resp.headers.get("Content-Range") or "")
                total = int(m.group(3)) if m and m.group(3) != "*" else None
                etag = _validator(resp.headers).get("etag")
                why = None
                if not m or int(m.group(1)) != have:
                    cr = resp.headers.get("Content-Range")
                    why = f"Content-Range {cr!r} does not start at {have}"
                elif meta.get("total") is not None and total != meta["total"]:
                    why = f"total {total} differs from the stored {meta['total']}"
                elif etag and meta.get("etag") and etag != meta["etag"]:
                    why = f"ETag {etag} differs from the stored {meta['etag']}"
                if why:
                    log.warning("%s: resume refused (%s); restarting from byte 0", url, why)
                    _discard(part)
                    have, meta = 0, {}
                    continue
                mode, expected_total = "ab", total
                if expected_total is None and length is not None:
                    expected_total = have + length
            elif status == 200:
                if have:
                    log.info("%s: full answer to a ranged request; restarting from byte 0", url)
                have, mode, expected_total = 0, "wb", length
                # Record the new validator first: only a .part with one may ever be resumed.
                meta = {"url": url, **_validator(resp.headers), "total": expected_total}
                if meta.get("etag") or meta.get("last_modified"):
                    write_bytes_atomic(_sidecar(part), json.dumps(meta).encode())
                else:
                    _sidecar(part).unlink(missing_ok=True)
            else:
                raise _Transient(f"unexpected HTTP {status}")
            with open(part, mode) as fout:
                while block := resp.read(_CHUNK):
                    fout.write(block)
                    progress(len(block))
        got = part.stat().st_size
        if expected_total is not None and got != expected_total:
            if got > expected_total:
                _discard(part)
            raise _Transient(f"got {got} bytes, the server announced {expected_total}")
        return
    raise _Transient("resume refused twice")


def _fetch(url: str, part: Path, timeout_s: float, progress: Callable[[int], None]) -> None:
    scheme = url.split(":", 1)[0].lower()
    if scheme == "file":
        _copy_local(url, part, progress)
    elif scheme in ("http", "https"):
        _fetch_http(url, part, timeout_s, progress)
    else:
        raise _Permanent("unsupported URL scheme")


def _progress(desc: str) -> Callable[[int], None]:
    """A byte counter that logs a line every 10 s (readable in a Snakemake log file)."""
    state = {"n": 0, "t": time.monotonic()}

    def update(n: int) -> None:
        state["n"] += n
        now = time.monotonic()
        if now - state["t"] >= 10.0:
            state["t"] = now
            log.info("%s: %.1f MiB", desc, state["n"] / 2**20)

    return update


def _fetch_with_retries(
    url: str, part: Path, retries: int, backoff_s: float, timeout_s: float, desc: str,
    size: int | None,
) -> None:
    """Fetch with ``retries`` extra attempts after transient failures (backoff doubles)."""
    progress = _progress(desc)
    for attempt in range(retries + 1):
        try:
            _fetch(url, part, timeout_s, progress)
            got = part.stat().st_size
            if size is not None and got != size:
                if got > size:
                    _discard(part)
                    raise _Permanent(f"got {got} bytes, the config says size {size}")
                raise _Transient(f"got {got} bytes, the config says size {size}")
            return
        except _Permanent as exc:
            raise _Permanent(f"{url}: {exc}") from None
        except (_Transient, OSError, http.client.HTTPException) as exc:  # timeouts: OSError
            msg = str(exc) or type(exc).__name__
            if attempt == retries:
                raise _Permanent(f"{url}: {msg} (after {retries + 1} attempts)") from None
            delay = backoff_s * (2**attempt)
            log.warning("%s: %s; retry %d/%d in %.1f s", url, msg, attempt + 1, retries, delay)
            time.sleep(delay)


# --------------------------------------------------------------------------- entry point


def hash_matches(actual: str, expected: str) -> bool:
    """``expected`` is a full sha256 or a prefix of >= 8 hex digits of ``actual``."""
    return len(expected) >= 8 and actual.startswith(expected.lower())


def download(
    urls: Sequence[str] | str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    sha256_source: str = "expected",
    size: int | None = None,
    check: Check | None = None,
    retries: int = 5,
    backoff_s: float = 2.0,
    timeout_s: float = 60.0,
) -> str:
    """Download ``dest`` from the first of ``urls`` that delivers a file passing every check.

    Each URL is tried with ``retries`` extra attempts after transient errors (backoff
    ``backoff_s`` doubling); a permanent error (404, wrong size, hash or content) goes to the
    next URL. The file is kept only when its length equals the server's announced length, its
    size equals ``size`` and its sha256 matches ``sha256`` (when given), and ``check(path)``
    passes (when given); then it is fsynced and renamed atomically onto ``dest``.

    Args:
        urls: mirrors tried in order (``http(s)://`` or ``file:``; a relative ``file:`` path
            resolves against the current directory).
        dest: final path; ``{dest}.part`` (+ ``.part.json``) hold an unfinished transfer.
        sha256: full hash or a prefix of >= 8 hex digits; ``sha256_source`` names where it
            came from in error messages.
        size: expected size in bytes.
        check: content check of the complete file, raising ``RankSRGANError`` when it is not
            whole (e.g. :func:`check_archive`, :func:`check_torch_file`).
        retries, backoff_s, timeout_s: retry count, first retry delay, socket timeout.

    Returns:
        The full sha256 of the kept file.

    Raises:
        RankSRGANError: one line naming ``dest`` and, per URL, why it failed.
    """
    urls = [urls] if isinstance(urls, str) else list(urls)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    errors: list[str] = []
    for url in urls:
        try:
            _fetch_with_retries(url, part, retries, backoff_s, timeout_s, dest.name, size)
        except _Permanent as exc:
            errors.append(str(exc))
            log.warning("%s: mirror failed: %s", dest.name, exc)
            continue
        actual = sha256_file(part)
        if sha256 is not None and not hash_matches(actual, sha256):
            _discard(part)
            errors.append(f"sha256 mismatch from {url}: expected {sha256} ({sha256_source}), "
                          f"got {actual}; bad file deleted")
            log.error("%s: %s", dest, errors[-1])
            continue
        if check is not None:
            try:
                check(part)
            except RankSRGANError as exc:
                _discard(part)
                errors.append(f"{url}: refused: {str(exc).replace(f'{part}: ', '')}")
                log.error("%s: %s", dest, errors[-1])
                continue
        with open(part, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(part, dest)
        _sidecar(part).unlink(missing_ok=True)
        return actual
    if len(errors) == 1 and errors[0].startswith("sha256 mismatch"):
        raise RankSRGANError(f"{dest}: {errors[0]}")
    raise RankSRGANError(
        f"{dest}: download failed from all {len(urls)} URL(s): " + " | ".join(errors)
    )


def remove_partial(dest: str | os.PathLike) -> None:
    """Delete the ``.part`` file of ``dest`` and its validator (next download starts afresh)."""
    _discard(Path(dest).with_name(Path(dest).name + ".part"))


__all__ = [
    "check_archive",
    "check_torch_file",
    "download",
    "hash_matches",
    "read_lock",
    "record_lock",
    "remove_partial",
]
