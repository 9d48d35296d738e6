"""A bit-flipping peer: registers with a supernode through the v1 protocol, downloads the whole
task (so the supernode lists it as the holder of every piece) and then serves every piece with one
payload byte flipped.

Run as a process: `python -m tests.support.evil_peer --supernode http://127.0.0.1:P --url URL`
prints `evil peer port is <N> cid <CID>` once it holds every piece. `GET /_stats` answers
{"served": pieces sent, "requests": piece requests seen}.
"""

import argparse
import json
import random
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from common import pieces
from tests.support.v1client import V1Client


def bind_peer_port() -> socket.socket:
    """A listening socket on a port v1 accepts for peers (15000-65000)."""
    for _ in range(200):
        port = random.randint(20000, 60000)
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(64)
            return sock
        except OSError:
            sock.close()
    raise OSError("no free port in 20000-60000")


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.served = self.requests = 0


def make_handler(framed: "dict[int, bytes]", counters: Counters):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path == "/_stats":
                with counters.lock:
                    return self._send(
                        200, json.dumps({"served": counters.served, "requests": counters.requests}).encode()
                    )
            with counters.lock:
                counters.requests += 1
            num = self.headers.get("pieceNum", "")
            if not self.path.startswith("/peer/file/") or not num.isdigit() or int(num) not in framed:
                return self._send(404, b"not found")
            body = bytearray(framed[int(num)])
            body[len(body) // 2] ^= 0xFF  # one payload byte flipped: md5 no longer matches
            with counters.lock:
                counters.served += 1
            self._send(206, bytes(body))

        def _send(self, status, body):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--supernode", required=True)
    p.add_argument("--url", required=True)
    args = p.parse_args(argv)
    sock = bind_peer_port()
    port = sock.getsockname()[1]
    client = V1Client(args.supernode, port=port, name="evil")
    data, _ = client.download(args.url)
    reg = client.register(args.url)  # the same CID again: a fresh record that holds nothing yet...
    assert reg["code"] == 200, reg
    task_id, size = reg["data"]["taskId"], reg["data"]["pieceSize"]
    payload = size - pieces.META_SIZE
    framed = {
        n: bytes(pieces.frame(data[n * payload : (n + 1) * payload], size))
        for n in range(pieces.piece_count(len(data), size))
    }
    # ...so claim every piece as persisted: the supernode now schedules us as their holder
    for n in framed:
        start, end = pieces.piece_range(n, size)
        r = client.http.get(
            f"{client.api}/peer/piece/suc",
            timeout=10,
            params={"taskId": task_id, "cid": client.cid, "dstCid": "", "pieceRange": pieces.format_range(start, end)},
        )
        assert r.json().get("code") == 611, r.text
    counters = Counters()
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(framed, counters), bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.daemon_threads = True
    print(f"evil peer port is {port} cid {client.cid}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
