"""A local HTTP file server for download tests (127.0.0.1 only), with failure modes.

``server.files[name] = bytes`` serves ``/name`` with ``Content-Length``, an ``ETag``, ``Last-Modified`` and
``Range`` support. Failure modes per name: ``status[name] = 404`` (or any code) answers that status;
``drop[name] = [n1, n2, ...]``: the k-th request sends only ``n_k`` bytes of its body and closes the
connection (as a network failure would); ``no_range`` answers every request with the whole file;
``disposition[name]`` sets a ``Content-Disposition`` file name. ``requests`` records ``(path, headers)``.
"""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FileServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.status: dict[str, int] = {}
        self.drop: dict[str, list[int]] = {}
        self.disposition: dict[str, str] = {}
        self.no_range = False
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def count(self, name: str) -> int:
        return sum(1 for path, _ in self.requests if path == f"/{name}")

    def start(self) -> FileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _make_handler(server: FileServer) -> Any:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:  # noqa: N802
            server.requests.append((self.path, dict(self.headers)))
            name = self.path.lstrip("/")
            if name in server.status:
                self._plain(server.status[name])
                return
            data = server.files.get(name)
            if data is None:
                self._plain(404)
                return
            etag = '"' + hashlib.md5(data).hexdigest() + '"'
            start = 0
            rng = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            if rng and not server.no_range and (if_range is None or if_range == etag):
                m = re.match(r"bytes=(\d+)-$", rng)
                start = int(m.group(1)) if m else 0
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
            self.send_header("Accept-Ranges", "bytes")
            if name in server.disposition:
                self.send_header("Content-Disposition", f'attachment; filename="{server.disposition[name]}"')
            self.end_headers()
            drops = server.drop.get(name)
            if drops:
                n = drops.pop(0)
                self.wfile.write(body[:n])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def _plain(self, code: int) -> None:
            body = f"error {code}".encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
