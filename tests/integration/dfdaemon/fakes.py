"""A fake v2 registry on 127.0.0.1:0 (optionally TLS, optionally needing a bearer token) that
records every request with its full header list, and helpers to run it."""

import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


class Registry:
    def __init__(self, blob_dir: str, token: str = ""):
        self.blob_dir = blob_dir
        self.token = token
        self.blobs: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, list]] = []
        self.lock = threading.Lock()
        self.tamper: tuple[str, bytes] | None = None  # (Content-Encoding, body) sent for every blob GET

    def add_blob(self, data: bytes) -> str:
        hexd = hashlib.sha256(data).hexdigest()
        self.blobs["sha256:" + hexd] = data
        with open(os.path.join(self.blob_dir, hexd), "wb") as f:
            f.write(data)
        return "sha256:" + hexd

    def seen(self, method: str, needle: str) -> list:
        with self.lock:
            return [r for r in self.requests if r[0] == method and needle in r[1]]


def make_handler(reg: Registry):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def _send(self, status, body=b"", headers=(), length=None):
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self):
            with reg.lock:
                reg.requests.append((self.command, self.path, list(self.headers.items())))
            path = self.path.split("?")[0]
            if path == "/v2/":
                return self._send(200, b"{}", [("Content-Type", "application/json")])
            if path == "/hello":
                return self._send(200, b"hello world\n")
            if reg.token and self.headers.get("Authorization") != f"Bearer {reg.token}":
                return self._send(
                    401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', [("WWW-Authenticate", 'Bearer realm="x"')]
                )
            if "/manifests/" in path:
                accepts = self.headers.get_all("Accept") or []
                body = json.dumps({"schemaVersion": 2, "accepts": accepts}).encode()
                return self._send(200, body, [("Content-Type", MANIFEST_TYPE)])
            if "/blobs/" in path:
                data = reg.blobs.get(path.rsplit("/", 1)[1])
                if data is None:
                    return self._send(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes=") and self.command == "GET":
                    first = int(rng[6:].split("-")[0])
                    return self._send(
                        206, data[first:], [("Content-Range", f"bytes {first}-{len(data) - 1}/{len(data)}")]
                    )
                if reg.tamper is not None:
                    encoding, body = reg.tamper
                    return self._send(200, body, [("Content-Encoding", encoding)])
                return self._send(200, data, [("Docker-Content-Digest", path.rsplit("/", 1)[1])], len(data))
            return self._send(404, b"not found")

        do_HEAD = do_POST = do_GET

    return Handler


def serve(reg: Registry, tls_context=None):
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(reg))
    server.daemon_threads = True
    if tls_context is not None:
        server.socket = tls_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server
