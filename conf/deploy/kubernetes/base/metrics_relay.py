"""Publishes dfdaemon's GET /metrics, and nothing else, on an address Prometheus can reach.

dfdaemon listens on 127.0.0.1 only (whoever reaches it may use it as a proxy); in the DaemonSet
this relay runs beside it, in the node's network namespace. Stdlib only: it runs from a ConfigMap.
"""

import argparse
import http.server
import threading
import urllib.error
import urllib.request

MAX_BODY = 8 << 20  # dfdaemon's metrics are a few KiB; a bigger answer is a fault, not data
UPSTREAM_TIMEOUT = 5.0
CLIENT_TIMEOUT = 10.0  # a client that sends its request slower than this is dropped
MAX_CONCURRENT = 8  # scrapes are rare; more at once is someone else
MAX_CONNECTIONS = 64  # each connection is a thread: a flood must not grow memory without bound
MAX_PER_CLIENT = 4  # one host holding connections open must not lock Prometheus out


class Relay(http.server.BaseHTTPRequestHandler):
    server_version = "dfdaemon-metrics-relay"
    timeout = CLIENT_TIMEOUT
    upstream = ""
    slots = threading.BoundedSemaphore(MAX_CONCURRENT)

    def do_GET(self):
        if self.path.split("?", 1)[0] != "/metrics":
            return self._answer(404, b"only GET /metrics is served here\n")
        if not self.slots.acquire(blocking=False):
            return self._answer(503, b"too many concurrent scrapes\n")
        try:
            with urllib.request.urlopen(self.upstream, timeout=UPSTREAM_TIMEOUT) as resp:
                body = resp.read(MAX_BODY + 1)
                ctype = resp.headers.get("Content-Type", "text/plain")
        except (urllib.error.URLError, OSError) as e:
            return self._answer(502, f"dfdaemon's /metrics is unreachable: {e}\n".encode())
        finally:
            self.slots.release()
        if len(body) > MAX_BODY:
            return self._answer(502, b"dfdaemon's /metrics answer is too large\n")
        self._answer(200, body, ctype)

    def do_POST(self):
        self._answer(405, b"only GET /metrics is served here\n")

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_CONNECT = do_POST

    def _answer(self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def log_message(self, fmt, *args):
        pass  # one line per scrape would drown the container log


class BoundedServer(http.server.ThreadingHTTPServer):
    """A thread per connection, but at most MAX_CONNECTIONS, and MAX_PER_CLIENT per client address:
    beyond that a connection is closed at once."""

    daemon_threads = True
    request_queue_size = MAX_CONNECTIONS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}

    def _admit(self, host: str) -> bool:
        with self._lock:
            if sum(self._open.values()) >= MAX_CONNECTIONS or self._open.get(host, 0) >= MAX_PER_CLIENT:
                return False
            self._open[host] = self._open.get(host, 0) + 1
            return True

    def _leave(self, host: str) -> None:
        with self._lock:
            self._open[host] -= 1
            if not self._open[host]:
                del self._open[host]

    def process_request(self, request, client_address):
        if not self._admit(client_address[0]):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._leave(client_address[0])
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._leave(client_address[0])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", required=True, help="address to listen on (the node IP)")
    p.add_argument("--port", type=int, default=65002)
    p.add_argument("--upstream", default="http://127.0.0.1:65001/metrics", help="dfdaemon's /metrics URL")
    args = p.parse_args(argv)
    Relay.upstream = args.upstream
    server = BoundedServer((args.listen, args.port), Relay)
    print(f"relaying {args.upstream} on http://{args.listen}:{args.port}/metrics", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
