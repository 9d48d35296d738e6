"""A test origin: a static file server that honours Range, HEAD, ETag and Last-Modified, counts
what it sends, and can misbehave on purpose.

Run as a process: `python -m tests.support.origin --root DIR --port 0 [--cut-after N]` prints
`origin port is <N>` once listening. `GET /_stats` answers
{"bytes": {path: bytes sent}, "gets": {path: count}, "heads": {path: count}}.
`--cut-after N` closes the connection after N body bytes of the first full (non-Range) GET of
each path — a broken stream the CDN must resume. `--tls-cert FILE --tls-key FILE` serves HTTPS
(for tests of certificate errors).
"""

import argparse
import email.utils
import hashlib
import json
import os
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 256 * 1024


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.bytes, self.gets, self.heads, self.cut = {}, {}, {}, set()

    def add(self, table, path, n=1):
        with self.lock:
            table[path] = table.get(path, 0) + n

    def as_json(self):
        with self.lock:
            return json.dumps({"bytes": self.bytes, "gets": self.gets, "heads": self.heads})


def make_handler(root: str, stats: Stats, cut_after: int, auth: str, auth_header: str = "Authorization"):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_HEAD(self):
            self._serve(head=True)

        def do_GET(self):
            if self.path == "/_stats":
                body = stats.as_json().encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self._serve(head=False)

        def _serve(self, head: bool):
            path = self.path.split("?", 1)[0]
            if auth and self.headers.get(auth_header) != auth:
                return self._plain(401, b"unauthorized", {"WWW-Authenticate": 'Basic realm="test"'})
            full = os.path.realpath(os.path.join(root, path.lstrip("/")))
            if not full.startswith(os.path.realpath(root) + os.sep) or not os.path.isfile(full):
                return self._plain(404, b"not found")
            st = os.stat(full)
            etag = '"' + hashlib.md5(f"{st.st_size}-{st.st_mtime_ns}".encode()).hexdigest() + '"'
            last_modified = email.utils.formatdate(st.st_mtime, usegmt=True)
            if self.headers.get("If-None-Match") == etag:
                return self._plain(304, b"")
            start, end, status = 0, st.st_size - 1, 200
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes="):
                first, _, last = rng[6:].partition("-")
                start = int(first) if first else max(st.st_size - int(last), 0)
                end = min(int(last), st.st_size - 1) if first and last else st.st_size - 1
                if start >= st.st_size:
                    return self._plain(416, b"", {"Content-Range": f"bytes */{st.st_size}"})
                status = 206
            self.send_response(status)
            self.send_header("Content-Length", str(end - start + 1))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", last_modified)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{st.st_size}")
            self.end_headers()
            stats.add(stats.heads if head else stats.gets, path)
            if head:
                return
            limit = None
            if cut_after and status == 200 and path not in stats.cut:
                stats.cut.add(path)
                limit = cut_after
            self._send_file(full, path, start, end - start + 1, limit)

        def _send_file(self, full, path, start, length, limit):
            sent = 0
            with open(full, "rb") as f:
                f.seek(start)
                while sent < length:
                    chunk = f.read(min(CHUNK, length - sent))
                    if not chunk:
                        break
                    if limit is not None and sent + len(chunk) > limit:
                        chunk = chunk[: limit - sent]
                        self.wfile.write(chunk)
                        stats.add(stats.bytes, path, len(chunk))
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    self.wfile.write(chunk)
                    stats.add(stats.bytes, path, len(chunk))
                    sent += len(chunk)

        def _plain(self, status, body, headers=None):
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

    return Handler


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--cut-after", type=int, default=0)
    p.add_argument("--auth", default="", help="required value of the --auth-header header")
    p.add_argument(
        "--auth-header",
        default="Authorization",
        help="the header that must carry --auth (e.g. X-JFrog-Art-Api: a name no heuristic knows)",
    )
    p.add_argument("--tls-cert", default="", help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--tls-key", default="", help="the private key of --tls-cert (PEM)")
    args = p.parse_args(argv)
    server = ThreadingHTTPServer(
        (args.host, args.port), make_handler(args.root, Stats(), args.cut_after, args.auth, args.auth_header)
    )
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        # the handshake runs in the request thread, so a client that never finishes it blocks nobody
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    server.daemon_threads = True
    print(f"origin port is {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
