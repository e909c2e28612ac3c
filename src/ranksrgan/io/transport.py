"""The one downloader of the project: mirrors, retries, validated resume, length/size/sha256
checks, a content check before a file is kept, and an atomic rename onto the final path.

This is the transport; whether a cached file is reused instead, and the sha256 lock that pins
an unhashed download, is :func:`ranksrgan.io.fetch.fetch_cached` (the one policy every
download goes through); the checks themselves are :mod:`ranksrgan.io.integrity`.

A download streams into ``{dest}.part``; ``dest`` only ever appears by ``os.replace`` of a file
that passed every check. Resume is allowed only when it cannot splice two different files:
beside the ``.part`` a small JSON sidecar ``{dest}.part.json`` records the URL and the server's
validator (a strong ETag or Last-Modified) and the announced total. A resumed request sends
``Range`` + ``If-Range``: a 200 answer restarts from byte 0; a 206 whose ``Content-Range`` start
or total, or whose ETag, differs from what was stored is refused and restarted; a ``.part``
without a sidecar is discarded.

Retries: ``retries`` extra attempts per mirror after a transient error (timeouts, resets, 5xx,
a body shorter than announced), the delay starting at ``backoff_s`` and doubling. The defaults
(:data:`RETRIES`, :data:`BACKOFF_S`, :data:`TIMEOUT_S`) are those of the config's
``data.download`` section in the paper config; the workflow always passes that section.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.atomic import write_bytes_atomic
from ranksrgan.io.hashing import sha256_file
from ranksrgan.io.integrity import Check, hash_matches

log = logging.getLogger(__name__)

# The one retry policy's defaults (by-hand calls; rules pass the config's data.download).
RETRIES = 5
BACKOFF_S = 2.0
TIMEOUT_S = 60.0

_CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")


class _Permanent(Exception):
    """This URL cannot deliver the file (404, bad scheme, wrong content): next mirror, no retry."""


class _Transient(Exception):
    """A failure worth retrying (timeouts, resets, 5xx, a body shorter than announced)."""


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


def download(
    urls: Sequence[str] | str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    sha256_source: str = "expected",
    size: int | None = None,
    check: Check | None = None,
    retries: int = RETRIES,
    backoff_s: float = BACKOFF_S,
    timeout_s: float = TIMEOUT_S,
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
            whole (:mod:`ranksrgan.io.integrity`: ``check_archive``, ``check_torch_file``...).
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


__all__ = ["BACKOFF_S", "RETRIES", "TIMEOUT_S", "download", "remove_partial"]
