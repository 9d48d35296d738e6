"""conf/deploy/kubernetes/base/metrics_relay.py: publishes dfdaemon's GET /metrics and nothing
else (dfdaemon itself must stay on loopback: it is a proxy to whoever reaches it)."""

import http.client
import http.server
import importlib.util
import socket
import sys
import threading

import pytest
import requests

from tests.support.procs import START_DEADLINE, Proc, free_port, wait_until
from tests.unit.deploy.manifests import KUSTOMIZE

RELAY = KUSTOMIZE / "base" / "metrics_relay.py"

METRICS = b"# TYPE dragonfly_dfdaemon_requests_total counter\ndragonfly_dfdaemon_requests_total 3\n"
TIMEOUT = 10


def load_relay():
    spec = importlib.util.spec_from_file_location("metrics_relay", RELAY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeDfdaemon(http.server.BaseHTTPRequestHandler):
    seen: "list[str]" = []

    def do_GET(self):
        self.seen.append(self.path)
        body = METRICS if self.path == "/metrics" else b"proxied!\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(server):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server


@pytest.fixture
def relay():
    """The relay on a loopback port in front of a fake dfdaemon; `down()` stops the fake."""
    mod = load_relay()
    upstream = serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeDfdaemon))
    FakeDfdaemon.seen = []
    handler = type("TestRelay", (mod.Relay,), {"upstream": f"http://127.0.0.1:{upstream.server_address[1]}/metrics"})
    front = serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler))

    def request(method, path):
        conn = http.client.HTTPConnection("127.0.0.1", front.server_address[1], timeout=TIMEOUT)
        try:
            conn.request(method, path)
            resp = conn.getresponse()
            return resp.status, resp.read(), resp.getheader("Content-Type")
        finally:
            conn.close()

    request.down = lambda: (upstream.shutdown(), upstream.server_close())
    yield request
    front.shutdown()
    front.server_close()
    upstream.shutdown()
    upstream.server_close()


def test_metrics_are_relayed(relay):
    status, body, ctype = relay("GET", "/metrics")
    assert (status, body) == (200, METRICS) and ctype.startswith("text/plain; version=0.0.4")


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", "/v2/library/alpine/manifests/latest", 404),
        ("GET", "http://example.invalid/", 404),
        ("GET", "/debug/version", 404),
        ("POST", "/metrics", 405),
        ("CONNECT", "127.0.0.1:65001", 405),
    ],
)
def test_nothing_but_get_metrics_reaches_dfdaemon(relay, method, path, status):
    assert relay(method, path)[0] == status
    assert FakeDfdaemon.seen == []


def test_dfdaemon_down_is_a_clear_502(relay):
    relay.down()
    status, body, _ = relay("GET", "/metrics")
    assert status == 502 and b"unreachable" in body


def test_the_relay_refuses_to_start_without_an_address():
    with pytest.raises(SystemExit):
        load_relay().main(["--port", "0"])


def threads_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("Threads:")).split()[1])


def test_a_connection_flood_from_one_host_costs_no_threads_and_locks_nobody_out(tmp_path):
    """A host opening 50 idle connections (from 127.0.0.2; fewer than the listen backlog) gets
    MAX_PER_CLIENT threads, not 50;
    Prometheus (127.0.0.1) is still answered."""
    mod = load_relay()
    upstream = serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeDfdaemon))
    port = free_port()
    proc = Proc(
        [
            sys.executable,
            str(RELAY),
            "--listen=127.0.0.1",
            f"--port={port}",
            f"--upstream=http://127.0.0.1:{upstream.server_address[1]}/metrics",
        ],
        log_path=str(tmp_path / "relay.log"),
    )
    attackers = []
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_until(lambda: requests.get(url, timeout=2).ok, START_DEADLINE, "the relay to start")
        idle = threads_of(proc.pid)
        for _ in range(50):
            s = socket.socket()
            s.settimeout(TIMEOUT)
            s.bind(("127.0.0.2", 0))
            s.connect(("127.0.0.1", port))
            attackers.append(s)
        resp = requests.get(url, timeout=TIMEOUT)  # accepted after every attacker connection
        assert resp.status_code == 200 and resp.content == METRICS
        # + 1: the thread that answered Prometheus may not have ended yet
        assert threads_of(proc.pid) <= idle + mod.MAX_PER_CLIENT + 1
    finally:
        for s in attackers:
            s.close()
        proc.stop()
        upstream.shutdown()
        upstream.server_close()
