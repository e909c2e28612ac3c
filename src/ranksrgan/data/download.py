"""Download one archive: mirrors in order, HTTP Range resume, retries, sha256 verification.

The archive is streamed into ``{dest}.part`` (kept between attempts and between runs, so an
interrupted multi-GB download resumes with ``Range: bytes=N-``), verified, then renamed
atomically onto ``dest``. When the config gives no hash (``sha256: null``) the computed hash is
recorded in a lock file (``sha256sum`` format, one ``<hash>  <file name>`` line per archive) and
a later run verifies against it: trust on first use, said loudly in the log.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from tqdm import tqdm

from ranksrgan.errors import RankSRGANError
from ranksrgan.io import sha256_file, write_bytes_atomic

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_LOCK_LINE = re.compile(r"^([0-9a-f]{64})\s+\*?(.+)$")


class _Permanent(Exception):
    """This URL cannot deliver the file (404, bad scheme): go to the next mirror, no retry."""


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
    """Entries ``{file name: sha256}`` of a lock file (empty when it does not exist)."""
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


# --------------------------------------------------------------------------- transfers


def _local_path(url: str) -> Path:
    """Path of a ``file:`` URL; ``file:rel/path`` is relative to the current directory."""
    rest = url[len("file:"):]
    if rest.startswith("//"):
        parsed = urllib.parse.urlparse(url)
        if parsed.netloc not in ("", "localhost"):
            raise _Permanent(f"file URL with a remote host: {url}")
        return Path(urllib.parse.unquote(parsed.path))
    return Path(urllib.parse.unquote(rest))


def _bar(total: int | None, initial: int, desc: str) -> tqdm:
    # In a Snakemake log (not a terminal) print a line every 10 s instead of redrawing.
    return tqdm(
        total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
        mininterval=0.5 if os.isatty(2) else 10.0, leave=False,
    )


def _copy_local(url: str, part: Path, desc: str) -> None:
    src = _local_path(url)
    if not src.is_file():
        raise _Permanent(f"{src}: file not found")
    total = src.stat().st_size
    with open(src, "rb") as fin, open(part, "wb") as fout, _bar(total, 0, desc) as bar:
        while block := fin.read(_CHUNK):
            fout.write(block)
            bar.update(len(block))


def _fetch_http(url: str, part: Path, timeout_s: float, desc: str) -> None:
    """Fetch ``url`` into ``part``, resuming from its current size with a Range request."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "ranksrgan-data/1"}
    if have:
        headers["Range"] = f"bytes={have}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            # Our .part may already be complete (Content-Range: bytes */TOTAL) or be stale.
            m = re.match(r"bytes \*/(\d+)", exc.headers.get("Content-Range", "") or "")
            if m and int(m.group(1)) == have:
                return
            part.unlink()
            raise ConnectionError(f"HTTP 416 for a stale partial file; restarting {url}") from None
        if exc.code in (408, 425, 429) or exc.code >= 500:
            raise ConnectionError(f"HTTP {exc.code} from {url}") from None
        raise _Permanent(f"HTTP {exc.code} {exc.reason} from {url}") from None
    with resp:
        status = resp.status
        mode = "ab"
        if have and status == 206:
            m = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != have:
                part.unlink()
                raise ConnectionError(f"unexpected Content-Range from {url}; restarting")
        elif status == 200:
            if have:
                log.info("%s: server ignored the Range request; restarting from byte 0", url)
            have, mode = 0, "wb"
        else:
            raise ConnectionError(f"HTTP {status} from {url}")
        length = resp.headers.get("Content-Length")
        remaining = int(length) if length is not None else None
        total = have + remaining if remaining is not None else None
        got = 0
        with open(part, mode) as fout, _bar(total, have, desc) as bar:
            while True:
                block = resp.read(_CHUNK)
                if not block:
                    break
                fout.write(block)
                got += len(block)
                bar.update(len(block))
        if remaining is not None and got < remaining:
            raise ConnectionError(f"connection closed after {have + got} of {total} bytes")


def _fetch(url: str, part: Path, timeout_s: float, desc: str) -> None:
    scheme = url.split(":", 1)[0].lower()
    if scheme == "file":
        _copy_local(url, part, desc)
    elif scheme in ("http", "https"):
        _fetch_http(url, part, timeout_s, desc)
    else:
        raise _Permanent(f"unsupported URL scheme: {url}")


def _fetch_with_retries(
    url: str, part: Path, retries: int, backoff_s: float, timeout_s: float, desc: str
) -> None:
    """Fetch with ``retries`` extra attempts after transient failures (backoff doubles)."""
    for attempt in range(retries + 1):
        try:
            _fetch(url, part, timeout_s, desc)
            return
        except _Permanent:
            raise
        except (OSError, http.client.HTTPException) as exc:  # timeouts are OSErrors
            if attempt == retries:
                raise ConnectionError(f"{url}: {exc} (after {retries + 1} attempts)") from None
            delay = backoff_s * (2**attempt)
            log.warning("%s: %s; retry %d/%d in %.1f s (resuming)", url, exc, attempt + 1,
                        retries, delay)
            time.sleep(delay)


# --------------------------------------------------------------------------- entry point


def download_archive(
    urls: Sequence[str],
    dest: str | os.PathLike,
    sha256: str | None = None,
    lock_path: str | os.PathLike | None = None,
    retries: int = 5,
    backoff_s: float = 2.0,
    timeout_s: float = 60.0,
) -> str:
    """Download an archive to ``dest`` and verify it; return its sha256.

    Args:
        urls: mirrors tried in order (``http(s)://`` or ``file:``; relative ``file:`` paths
            resolve against the current directory).
        dest: final path; written by an atomic rename of ``{dest}.part``.
        sha256: expected hash; ``None`` means use the lock file's entry, or record one.
        lock_path: the sha256 lock file (default ``sha256.lock`` beside ``dest``).
        retries, backoff_s, timeout_s: extra attempts per mirror after a transient error,
            the first retry delay (doubled each time), the socket timeout.

    Raises:
        RankSRGANError: no mirror delivered the file, or its hash differs from the expected
            one (the bad file is deleted).
    """
    dest = Path(dest)
    lock = Path(lock_path) if lock_path is not None else dest.with_name("sha256.lock")
    expected, source = sha256, "config"
    if expected is None:
        expected, source = read_lock(lock).get(dest.name), str(lock)
    dest.parent.mkdir(parents=True, exist_ok=True)

    if dest.exists():
        actual = sha256_file(dest)
        if expected is None or actual == expected:
            return _finish(dest, actual, expected, lock)
        log.warning("%s: existing file has sha256 %s, expected %s; downloading again",
                    dest, actual, expected)
        dest.unlink()

    part = dest.with_name(dest.name + ".part")
    errors: list[str] = []
    for url in urls:
        try:
            _fetch_with_retries(url, part, retries, backoff_s, timeout_s, dest.name)
        except (_Permanent, ConnectionError) as exc:
            errors.append(str(exc))
            log.warning("%s: mirror failed: %s", dest.name, exc)
            continue
        actual = sha256_file(part)
        if expected is not None and actual != expected:
            part.unlink()
            msg = (f"{dest}: sha256 mismatch from {url}: expected {expected} ({source}), "
                   f"got {actual}; bad file deleted")
            errors.append(msg)
            log.error("%s", msg)
            if url == urls[-1]:
                raise RankSRGANError(msg)
            continue
        with open(part, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(part, dest)
        return _finish(dest, actual, expected, lock)
    raise RankSRGANError(
        f"{dest}: download failed from all {len(urls)} URL(s): " + " | ".join(errors)
    )


def _finish(dest: Path, actual: str, expected: str | None, lock: Path) -> str:
    if expected is None:
        record_lock(lock, dest.name, actual)
        banner = "!" * 20
        log.warning(
            "%s UNVERIFIED ARCHIVE %s: %s has no sha256 in the config; recorded %s in %s. "
            "Check it against a trusted source and put it in the config. %s",
            banner, dest.name, dest, actual, lock, banner,
        )
    else:
        log.info("%s: sha256 %s verified", dest, actual)
    return actual


def remove_partial(dest: str | os.PathLike) -> None:
    """Delete the ``.part`` file of ``dest`` (start the next download from scratch)."""
    part = Path(dest).with_name(Path(dest).name + ".part")
    if part.exists():
        part.unlink()


__all__ = ["download_archive", "read_lock", "record_lock", "remove_partial"]
