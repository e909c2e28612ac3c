"""The one cached-file policy: reuse the file if it verifies, else download it, verify, pin.

Every file the pipeline downloads (an archive, SR or VGG19 weights, the NRQM model) goes
through :func:`fetch_cached`, by the one fetch command ``ranksrgan data download`` (every
download rule runs it) or by the Python helpers over it (``ranksrgan.data.download``,
``ranksrgan.weights.fetch``, ``ranksrgan.metrics.models.ensure_model_file``):

1. The hash to verify against: the caller's sha256 (full, or a prefix of >= 8 hex digits),
   else the file's entry in the sha256 lock (``sha256.lock`` beside the file, ``sha256sum``
   format), else, with ``name_prefix``, the prefix the file name carries
   (``vgg19-dcbb9e9d.pth``).
2. A file already at ``dest`` is kept when its size and hash match and, unless a full sha256
   pins it, its content check passes; otherwise it is deleted and downloaded again.
3. The download is :func:`ranksrgan.io.transport.download` (mirrors, retries, validated
   resume, length/size/hash/content checks, atomic rename).
4. When no full sha256 came from the caller, the file's full hash is recorded in the lock, so
   a later run verifies against it; only a file that passed its content check is pinned.

Errors are one line naming the file and, for a failed download, each URL and why.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.atomic import write_bytes_atomic
from ranksrgan.io.integrity import (
    Check,
    expected_sha256,
    is_full_sha256,
    name_hash_prefix,
    verify_file,
)
from ranksrgan.io.transport import BACKOFF_S, RETRIES, TIMEOUT_S, download

log = logging.getLogger(__name__)

LOCK_NAME = "sha256.lock"
FETCH_COMMAND = "ranksrgan data download"
_LOCK_LINE = re.compile(r"^([0-9a-f]{64})\s+\*?(.+)$")


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


def lock_beside(dest: str | os.PathLike) -> Path:
    """The default lock file of ``dest``: ``sha256.lock`` in its folder."""
    return Path(dest).with_name(LOCK_NAME)


# --------------------------------------------------------------------------- the policy


def fetch_cached(
    urls: Sequence[str] | str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    sha256_source: str = "expected",
    size: int | None = None,
    check: Check | None = None,
    what: str = "file",
    name_prefix: bool = False,
    lock: str | os.PathLike | None = None,
    retries: int = RETRIES,
    backoff_s: float = BACKOFF_S,
    timeout_s: float = TIMEOUT_S,
) -> str:
    """Make ``dest`` a verified file: the cached one when it checks out, else a download.

    Args:
        urls: mirrors tried in order (``http(s)://`` or ``file:``); empty: ``dest`` must
            already be there and verify (nothing to download it from).
        dest: the file; a download goes through ``{dest}.part`` and an atomic rename.
        sha256: full hash or a prefix of >= 8 hex digits; None: the lock's entry, else (with
            ``name_prefix``) the file name's prefix. ``sha256_source`` names where it came
            from in messages (``config``, ``expected``...).
        size: expected size in bytes, or None.
        check: content check (:mod:`ranksrgan.io.integrity`) run on a file that no full
            sha256 pins, before it is reused or kept; ``what`` names such a file in messages.
        name_prefix: use the sha256 prefix the file name carries (``name-<hex>.ext``, the
            weights registry's convention) when nothing else gives a hash.
        lock: the sha256 lock file (default ``sha256.lock`` beside ``dest``).
        retries, backoff_s, timeout_s: the download's retry count, first retry delay
            (doubling) and socket timeout.

    Returns:
        The file's full sha256.

    Raises:
        RankSRGANError: one line naming ``dest`` (and each URL tried) when no verified file
            can be had: a bad ``sha256``, a hash, size or content that differs after download
            (the bad file is deleted), or no URL for a missing or rejected file.
    """
    urls = [urls] if isinstance(urls, str) else list(urls)
    dest = Path(dest)
    lock_path = Path(lock) if lock is not None else lock_beside(dest)
    want = expected_sha256(sha256, urls[0] if urls else dest)
    source = sha256_source
    if want is None and name_prefix:
        want, source = name_hash_prefix(dest), "file-name prefix"
    pin = not is_full_sha256(want)  # a full hash from the caller needs no pin
    if pin:
        pinned = read_lock(lock_path).get(dest.name)
        if pinned is not None and (want is None or pinned.startswith(want)):
            want, source = pinned, str(lock_path)
        elif pinned is not None:
            log.warning("%s: entry %s of %s does not match the %s %s; ignored",
                        dest, pinned, lock_path, source, want)
    content = None if is_full_sha256(want) else check

    why = "not found"
    if dest.is_file():
        try:
            actual = verify_file(dest, want, size, source)
            if content is not None:
                content(dest)
            log.info("%s: cached file verified (sha256 %s)", dest, actual)
            return _pin(dest, actual, want, source, what, lock_path) if pin else actual
        except RankSRGANError as exc:
            why = f"cached file rejected: {str(exc).replace(f'{dest}: ', '')}"
            log.warning("%s: %s; downloading again", dest, why)
            dest.unlink()
    if not urls:
        raise RankSRGANError(f"{dest}: {why} and no URL to download it from")
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s -> %s", urls[0], dest)
    actual = download(
        urls, dest, sha256=want, sha256_source=source, size=size, check=content,
        retries=retries, backoff_s=backoff_s, timeout_s=timeout_s,
    )
    return _pin(dest, actual, want, source, what, lock_path) if pin else actual


def _pin(dest: Path, actual: str, want: str | None, source: str, what: str, lock: Path) -> str:
    """Record ``actual`` in the lock unless it is the entry already there."""
    if want == actual:  # verified against the lock's own entry
        log.info("%s: sha256 %s verified (%s)", dest, actual, lock)
        return actual
    try:
        record_lock(lock, dest.name, actual)
    except OSError as exc:  # a read-only cache: the file is verified, only not pinned
        log.warning("%s: could not pin sha256 %s in %s (%s)", dest, actual, lock, exc.strerror)
        return actual
    if want is None:
        banner = "!" * 20
        log.warning(
            "%s UNVERIFIED %s %s: %s has no sha256 in the config; it passed its content "
            "check, recorded %s in %s. Check it against a trusted source and put it in the "
            "config. %s",
            banner, what.upper(), dest.name, dest, actual, lock, banner,
        )
    else:
        log.warning("%s: sha256 %s matches the %s %s; recorded in %s (put the full hash in "
                    "the config)", dest, actual, source, want, lock)
    return actual


# --------------------------------------------------------------------------- removed commands


def register_removed_command(
    subparsers: argparse._SubParsersAction, name: str, old: str, hint: str
) -> None:
    """Register ``name`` as a removed fetch command: any call is a one-line migration error.

    ``old`` is the full command (``sr fetch-weights``); ``hint`` says how its arguments map
    onto :data:`FETCH_COMMAND`. Whatever arguments follow are accepted, so the error is the
    migration line, not an argparse complaint.
    """

    def removed(args: argparse.Namespace) -> int:
        raise RankSRGANError(
            f"`ranksrgan {old}` was removed: every download is `{FETCH_COMMAND} --url URL "
            f"--out PATH [--sha256 HASH] [--size BYTES] [--check KIND]` ({hint})"
        )

    p = subparsers.add_parser(
        name, help=f"removed: use `{FETCH_COMMAND}`", add_help=False, prefix_chars="\0"
    )
    p.add_argument("ignored", nargs="*")
    p.set_defaults(func=removed)


__all__ = [
    "FETCH_COMMAND",
    "LOCK_NAME",
    "fetch_cached",
    "lock_beside",
    "read_lock",
    "record_lock",
    "register_removed_command",
]
