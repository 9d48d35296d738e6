"""A tiny real origin on 127.0.0.1:0 that can cut its streams short, for resume tests."""

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Origin:
    def __init__(
        self,
        data: bytes,
        *,
        etag: str = '"v1"',
        ranges: bool = True,
        cuts=(),
        stall: float = 0.0,
        honour_if_range: bool = True,
        trickle: float = 0.0,
    ):
        self.data = data
        self.etag = etag  # "" = send no ETag
        self.ranges = ranges
        self.honour_if_range = honour_if_range  # False: a broken server that answers 206 whatever If-Range says
        self.cuts = list(cuts)  # for the n-th GET: stop after this many body bytes (None = whole)
        self.stall = stall  # seconds to hang (instead of closing) after a cut
        self.trickle = trickle  # after a cut: send the rest one byte per `trickle` seconds
        self.requests: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                origin._serve(self, head=True)

            def do_GET(self):
                origin._serve(self, head=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/file.bin"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def gets(self):
        return [h for m, h in self.requests if m == "GET"]

    def _serve(self, h, head: bool):
        with self._lock:
            self.requests.append((h.command, dict(h.headers)))
            cut = self.cuts.pop(0) if (not head and self.cuts) else None
        data, status, extra = self.data, 200, {}
        rng = h.headers.get("Range")
        if_range = h.headers.get("If-Range")
        if rng and self.ranges and (if_range is None or if_range == self.etag or not self.honour_if_range):
            start = int(re.match(r"bytes=(\d+)-", rng).group(1))
            if start >= len(data):
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(data)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            status, extra = 206, {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
            data = data[start:]
        h.send_response(status)
        h.send_header("Content-Length", str(len(data)))
        if self.etag:
            h.send_header("ETag", self.etag)
        if self.ranges:
            h.send_header("Accept-Ranges", "bytes")
        for k, v in extra.items():
            h.send_header(k, v)
        h.end_headers()
        if head:
            return
        h.wfile.write(data if cut is None else data[:cut])
        h.wfile.flush()
        if cut is not None and self.trickle:
            try:
                for i in range(cut, len(data)):
                    time.sleep(self.trickle)
                    h.wfile.write(data[i : i + 1])
                    h.wfile.flush()
            except OSError:  # the client gave up on us
                pass
            h.close_connection = True
        elif cut is not None:
            if self.stall:
                time.sleep(self.stall)
            h.close_connection = True

    def close(self):
        self.server.shutdown()
        self.server.server_close()
