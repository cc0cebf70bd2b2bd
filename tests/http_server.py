"""A small HTTP file server on 127.0.0.1, for the remote-input tests and benchmarks.

It serves files from a dict of URL path -> bytes (put there while it runs),
answers HEAD and GET, and, unless made without, single byte ranges
(``Range: bytes=A-B`` / ``bytes=A-``) with 206 and ``Content-Range``. It
sends ``ETag`` and ``Last-Modified`` (both change when a file is replaced),
and counts the requests it saw, by method, and ranged GETs apart.

``ranges=False`` makes a server that ignores ``Range`` and always sends the
whole file with 200, as some static and dynamic servers do;
``sizes=False`` one that sends no ``Content-Length`` (a chunked body), so the
size of a file is unknown; ``validators=False`` one that sends neither ``ETag``
nor ``Last-Modified``.

:class:`FakeHub` is the few endpoints of the Hugging Face Hub's HTTP API
that ``huggingface_hub.HfFileSystem`` asks for to read a file (the
repository's info, its tree, the file's bytes by ``resolve`` with ranges),
for one dataset repository, optionally private (a token needed).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FileServer:
    """Files served over HTTP on 127.0.0.1 (a free port), in a thread of its own."""

    def __init__(self, *, ranges: bool = True, sizes: bool = True, validators: bool = True) -> None:
        self.files: dict[str, bytes] = {}
        self.modified: dict[str, float] = {}
        self.requests: Counter[str] = Counter()
        self.ranges = ranges
        self.sizes = sizes
        self.validators = validators
        #: Headers every request must carry (401 otherwise), e.g. an Authorization.
        self.required: dict[str, str] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def do_POST(self) -> None:
                self._answer(body=True)

            def send_json(self, status: int, value: object, **headers: str) -> None:
                data = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, text in headers.items():
                    self.send_header(name.replace("_", "-"), text)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _answer(self, body: bool) -> None:
                ranged = body and "Range" in self.headers and server.ranges
                with server._lock:
                    server.requests[self.command + (" range" if ranged else "")] += 1
                if any(self.headers.get(k) != v for k, v in server.required.items()):
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path = server.route(self)
                if path is None:  # answered by the route
                    return
                data = server.files.get(path)
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "9")
                    self.end_headers()
                    if body:
                        self.wfile.write(b"not found")
                    return
                start, end, status = 0, len(data), 200
                match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
                if ranged and match:
                    start = int(match[1])
                    end = min(len(data), int(match[2]) + 1) if match[2] else len(data)
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                if server.ranges:
                    self.send_header("Accept-Ranges", "bytes")
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
                if server.validators:
                    etag = hashlib.sha256(data).hexdigest()[:16]
                    self.send_header("ETag", f'"{etag}"')
                    stamp = email.utils.formatdate(server.modified[path], usegmt=True)
                    self.send_header("Last-Modified", stamp)
                if server.sizes:
                    self.send_header("Content-Length", str(end - start))
                    self.end_headers()
                    if body:
                        self.wfile.write(data[start:end])
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if body:
                    for at in range(start, end, 1 << 16):
                        piece = data[at : min(end, at + (1 << 16))]
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that closes a connection early (it read what it needed)

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def route(self, request: BaseHTTPRequestHandler) -> str | None:
        """The file a request asks for; None when the route answered it itself."""
        return request.path.split("?", 1)[0]

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def put(self, path: str, data: bytes) -> str:
        """Serve ``data`` at ``path`` (``/name``); its URL."""
        self.files[path] = data
        self.modified[path] = time.time()
        return self.url + path

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class FakeHub(FileServer):
    """One dataset repository of a fake Hugging Face Hub, its files at revision ``main``.

    ``token`` makes it private: every request must carry ``Authorization: Bearer TOKEN``
    (the Hub answers 401 with ``X-Error-Code: RepoNotFound`` otherwise).
    """

    def __init__(self, repo: str, *, token: str | None = None) -> None:
        super().__init__()
        self.repo = repo
        self.token = token
        self.sha = "0" * 40

    def put_file(self, path: str, data: bytes) -> str:
        """Serve ``data`` at ``path`` in the repository; its ``hf://`` URL."""
        self.put(f"/datasets/{self.repo}/resolve/main/{path}", data)
        return f"hf://datasets/{self.repo}/{path}"

    def _entries(self) -> dict[str, dict[str, object]]:
        """Every file and folder of the repository, by its path in it."""
        prefix = f"/datasets/{self.repo}/resolve/main/"
        out: dict[str, dict[str, object]] = {}
        for url, data in self.files.items():
            if not url.startswith(prefix):
                continue
            path = url[len(prefix) :]
            oid = hashlib.sha1(data).hexdigest()
            out[path] = {"type": "file", "path": path, "size": len(data), "oid": oid}
            parts = path.split("/")
            for i in range(1, len(parts)):
                folder = "/".join(parts[:i])
                out.setdefault(folder, {"type": "directory", "path": folder, "oid": "1" * 40})
        return out

    def route(self, request: BaseHTTPRequestHandler) -> str | None:
        path, _, query = request.path.partition("?")
        if self.token is not None and request.headers.get("Authorization") != (
            f"Bearer {self.token}"
        ):
            request.send_json(401, {"error": "Repository not found"}, X_Error_Code="RepoNotFound")
            return None
        api = f"/api/datasets/{self.repo}"
        if path in (api, f"{api}/revision/main"):
            request.send_json(200, {"id": self.repo, "sha": self.sha, "private": False})
            return None
        if path.startswith(f"{api}/tree/main"):
            folder = path[len(f"{api}/tree/main") :].strip("/")
            folder = re.sub(r"%2F", "/", folder, flags=re.IGNORECASE)
            recursive = "recursive=True" in query or "recursive=true" in query
            entries = self._entries()
            if folder and entries.get(folder, {}).get("type") != "directory":
                request.send_json(404, {"error": "not found"}, X_Error_Code="EntryNotFound")
                return None
            inside = [
                e
                for p, e in sorted(entries.items())
                if p.startswith(folder + "/" if folder else "")
                and (recursive or "/" not in p[len(folder) + 1 if folder else 0 :])
            ]
            request.send_json(200, inside)
            return None
        if path.startswith("/api/"):
            request.send_json(404, {"error": "not found"}, X_Error_Code="RepoNotFound")
            return None
        return path
