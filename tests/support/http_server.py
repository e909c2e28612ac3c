"""A loopback HTTP server for download tests: Range/If-Range, validators, broken transfers.

Runs ``http.server`` in a daemon thread on 127.0.0.1 with an ephemeral port. Files are served
from an in-memory dict ``files`` (change an entry between requests to change the content).
Switches, all per server:

- ``ranges``: honour ``Range: bytes=N-`` (else answer 200 with the whole file);
- ``if_range``: honour ``If-Range`` (a validator that does not match gives a 200); when False
  the server answers the Range whatever the validator, as some broken servers do;
- ``etag`` / ``last_modified``: send a strong ETag derived from the content (it changes when
  the content does) / a Last-Modified date (``mtimes[path]`` or a fixed one);
- ``content_length``: send Content-Length (else the body ends when the connection closes).

Faults, per path: ``drop_first[path] = n`` sends only ``n`` bytes of the body of the first GET
and closes; ``truncate[path] = n`` does so on every GET; ``fail_first[path] = [500, ...]``
answers the first GETs with these status codes. ``requests`` logs ``(path, Range)`` and
``if_ranges`` the ``If-Range`` header of each GET.
"""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_DEFAULT_MTIME = "Sat, 01 Jan 2000 00:00:00 GMT"


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackServer

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        srv = self.server
        rng, if_range = self.headers.get("Range"), self.headers.get("If-Range")
        srv.requests.append((self.path, rng))
        srv.if_ranges.append(if_range)
        fails = srv.fail_first.get(self.path)
        if fails:
            self.send_error(fails.pop(0), "Injected failure")
            return
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        mtime = srv.mtimes.get(self.path, _DEFAULT_MTIME)
        validators = []
        if srv.etag:
            validators.append(etag)
        if srv.last_modified:
            validators.append(mtime)
        start, status = 0, 200
        if rng and srv.ranges and (not if_range or not srv.if_range or if_range in validators):
            m = re.fullmatch(r"bytes=(\d+)-", rng)
            start = int(m.group(1)) if m else 0
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        payload = body[start:]
        self.send_response(status)
        if srv.content_length:
            self.send_header("Content-Length", str(len(payload)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        if srv.etag:
            self.send_header("ETag", etag)
        if srv.last_modified:
            self.send_header("Last-Modified", mtime)
        self.send_header("Accept-Ranges", "bytes" if srv.ranges else "none")
        self.end_headers()
        cut = srv.drop_first.pop(self.path, None)
        if cut is None:
            cut = srv.truncate.get(self.path)
        if cut is not None:
            self.wfile.write(payload[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)


class LoopbackServer(ThreadingHTTPServer):
    """Test server; use as a context manager. ``url(path)`` gives the full URL."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.mtimes: dict[str, str] = {}
        self.drop_first: dict[str, int] = {}
        self.truncate: dict[str, int] = {}
        self.fail_first: dict[str, list[int]] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.if_ranges: list[str | None] = []
        self.ranges = True
        self.if_range = True
        self.etag = True
        self.last_modified = False
        self.content_length = True
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)
