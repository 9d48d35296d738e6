"""Issue 11 item 3: slow and piled-up connections cannot take the supernode's ports away from
legitimate clients. Real gunicorn supernode; flood sockets come from other loopback addresses
(127.0.0.2...) so the per-source budget can tell them from the legitimate client (127.0.0.1)."""

import hashlib
import os
import socket
import time

import pytest
import requests

from tests.support.dfget_runs import DfgetRunner
from tests.support.procs import start_supernode, wait_until
from tests.support.slow_flood import SlowFlood
from tests.support.v1client import V1Client

MIB = 1024 * 1024
FLOOD_SOURCES = [f"127.0.0.{i}" for i in range(2, 8)]


@pytest.fixture
def small_supernode(tmp_path, ended_by_pid):
    """A supernode whose API pool is small enough (300) for a test-sized flood to fill it."""

    def start(**settings):
        env = {f"SUPERNODE_{k.upper()}": str(v) for k, v in settings.items()}
        proc, api, download = start_supernode(str(tmp_path / "sn"), str(tmp_path / "sn.out"), env=env)
        ended_by_pid(proc)
        return api, download, proc.pid

    return start


def refused(api: int, reason: str) -> float:
    text = requests.get(f"http://127.0.0.1:{api}/metrics", timeout=5).text
    prefix = f'dragonfly_supernode_connections_refused_total{{reason="{reason}"}} '
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def raw_exchange(port: int, sends: "list[bytes]", gap: float, read_for: float) -> bytes:
    """Send `sends` with `gap` seconds between them, then read until EOF (at most `read_for` s)."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_for) as s:
        try:
            for i, chunk in enumerate(sends):
                if i:
                    time.sleep(gap)
                s.sendall(chunk)
        except OSError:
            pass  # the server may close before the trickle ends
        got, deadline = b"", time.monotonic() + read_for
        while time.monotonic() < deadline:
            try:
                data = s.recv(65536)
            except OSError:
                break
            if not data:
                break
            got += data
        return got


def worker_rss_kib(master_pid: int) -> int:
    """VmRSS of the gunicorn worker (the master's child)."""
    with open(f"/proc/{master_pid}/task/{master_pid}/children") as f:
        worker = int(f.read().split()[0])
    with open(f"/proc/{worker}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_a_slow_connection_flood_leaves_the_api_to_legitimate_clients(tmp_path, origin, small_supernode):
    content = os.urandom(4 * MIB)
    (origin.root / "during-flood.bin").write_bytes(content)
    (origin.root / "baseline.bin").write_bytes(os.urandom(4 * MIB))
    # a pool of 300 that a test-sized flood can fill; a header deadline short enough to pass a few times
    api, download, pid = small_supernode(
        max_connections=300, max_connections_per_source=40, request_header_timeout="3s"
    )
    url = origin.url + "/during-flood.bin"
    started = time.monotonic()
    V1Client(f"http://127.0.0.1:{api}", name="baseline").download(origin.url + "/baseline.bin")
    baseline = time.monotonic() - started
    rss_before = worker_rss_kib(pid)

    # 6 sources x 60 trickling connections = 360 > the pool of 300: without a budget the pool fills
    registrations, downloads = [], []
    with SlowFlood(api, FLOOD_SOURCES, per_source=60, interval=1.0, rounds=90) as flood:
        wait_until(lambda: flood.rounds_done >= 2, 20, "the flood to be established")
        for i in range(12):  # ~8 s of legitimate traffic: the flood lives through a few header deadlines
            client = V1Client(f"http://127.0.0.1:{api}", name=f"legit{i}")
            t0 = time.monotonic()
            answer = client.register(url)
            registrations.append(time.monotonic() - t0)
            assert answer["code"] == 200, answer
            data, _ = client.download(url, timeout=60)
            downloads.append(time.monotonic() - t0)
            assert data == content
            time.sleep(0.5)  # pacing of the legitimate client, not a wait for a condition
        runner = DfgetRunner(tmp_path, node=f"127.0.0.1:{api}")
        try:
            t0 = time.monotonic()
            run = runner.run("-u", url, "-o", str(tmp_path / "out.bin"), "--notbs", home="legit", timeout=90)
            dfget_latency = time.monotonic() - t0
        finally:
            runner.stop_all()
        assert run.returncode == 0, run.stdout[-800:] + run.stderr[-800:]
        assert hashlib.sha256((tmp_path / "out.bin").read_bytes()).digest() == hashlib.sha256(content).digest()
        rss_during = worker_rss_kib(pid)
    by_budget, by_deadline = refused(api, "source_budget"), refused(api, "header_timeout")
    registrations.sort()
    print(
        f"\nflood: {flood.opened} connections opened from {len(FLOOD_SOURCES)} addresses; the supernode "
        f"refused {by_budget:.0f} over budget and cut {by_deadline:.0f} at the header deadline. Legitimate "
        f"client during the flood: register median {registrations[len(registrations) // 2] * 1000:.0f} ms, "
        f"max {registrations[-1] * 1000:.0f} ms; register+download of 4 MiB max {max(downloads):.2f} s "
        f"(baseline without flood {baseline:.2f} s); dfget {dfget_latency:.2f} s; worker RSS "
        f"{rss_before // 1024} -> {rss_during // 1024} MiB"
    )
    assert by_budget >= 1 and by_deadline >= 1, "the flood never reached the guard: the test proves nothing"


def test_a_flood_from_more_addresses_than_the_budgets_cover_is_shed_oldest_first(tmp_path, origin, small_supernode):
    """12 addresses x 40 = 480 trickling connections, every one within its source's budget, against
    a pool of 300, and a header deadline (60 s) longer than the client's patience (10 s): only
    shedding the longest-waiting connections keeps a slot for the legitimate client."""
    content = os.urandom(2 * MIB)
    (origin.root / "many.bin").write_bytes(content)
    api, _, _ = small_supernode(max_connections=300, max_connections_per_source=40, request_header_timeout="60s")
    sources = [f"127.0.0.{i}" for i in range(2, 14)]
    latencies = []
    with SlowFlood(api, sources, per_source=40, interval=1.0, rounds=60) as flood:
        wait_until(lambda: flood.rounds_done >= 2, 30, "the flood to be established")
        for i in range(5):
            client = V1Client(f"http://127.0.0.1:{api}", name=f"many{i}")
            t0 = time.monotonic()
            data, _ = client.download(origin.url + "/many.bin", timeout=60)
            latencies.append(time.monotonic() - t0)
            assert data == content
    shed = refused(api, "shed")
    print(
        f"\nflood from {len(sources)} addresses: {flood.opened} opened, {shed:.0f} shed; legitimate "
        f"register+download of 2 MiB: max {max(latencies):.2f} s"
    )
    assert shed >= 1 and refused(api, "source_budget") == 0


def test_trickled_headers_get_408_and_the_connection_closes(small_supernode):
    api, _, _ = small_supernode(request_header_timeout="1s")
    trickle = [b"GET /_ping HTTP/1.1\r\n"] + [b"X-Slow: 1\r\n"] * 30
    got = raw_exchange(api, trickle, gap=0.2, read_for=15)
    assert got.startswith(b"HTTP/1.1 408"), got[:200]
    assert refused(api, "header_timeout") == 1


def test_a_connection_that_sends_nothing_is_closed(small_supernode):
    api, download, _ = small_supernode(request_header_timeout="1s")
    for port in (api, download):
        assert raw_exchange(port, [], gap=0, read_for=15).startswith(b"HTTP/1.1 408")


def test_a_trickled_body_gets_408_and_registers_nothing(small_supernode):
    api, _, _ = small_supernode(request_body_timeout="1s")
    peers_before = requests.get(f"http://127.0.0.1:{api}/api/v1/peers", timeout=5).json()
    head = (
        b"POST /peer/registry HTTP/1.1\r\nHost: s\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 400\r\n\r\n"
    )
    body = b"rawUrl=http%3A%2F%2Forigin.test%2Ff&cid=c1&ip=127.0.0.1&path=%2Fpeer%2Ffile%2Fx&port=0"
    got = raw_exchange(api, [head] + [body[i : i + 4] for i in range(0, len(body), 4)], gap=0.2, read_for=20)
    assert got.startswith(b"HTTP/1.1 408"), got[:300]
    assert b"did not arrive" in got
    assert requests.get(f"http://127.0.0.1:{api}/api/v1/peers", timeout=5).json() == peers_before
    assert refused(api, "body_timeout") == 1


def test_held_long_polls_are_not_cut_by_the_header_deadline(origin, small_supernode):
    (origin.root / "f.bin").write_bytes(os.urandom(MIB))
    api, _, _ = small_supernode(request_header_timeout="1s", long_poll_max="4s")
    client = V1Client(f"http://127.0.0.1:{api}", name="poll")
    task_id = client.register(origin.url + "/f.bin")["data"]["taskId"]
    # A keep-alive connection: a few held polls back to back, each longer than the header deadline.
    for _ in range(3):
        query = {"srcCid": client.cid, "taskId": task_id, "status": 701, "result": 502, "wait": 3}
        answer = client.http.get(f"http://127.0.0.1:{api}/peer/task", params=query, timeout=15).json()
        assert answer["code"] in (600, 601, 602), answer
    assert refused(api, "header_timeout") == 0


def test_one_source_over_its_budget_is_refused_but_others_are_served(small_supernode):
    api, download, _ = small_supernode(max_connections_per_source=5)
    held = []
    try:
        for _ in range(5):
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            s.connect(("127.0.0.1", api))
            held.append(s)
        wait_until(lambda: requests.get(f"http://127.0.0.1:{api}/_ping", timeout=5).ok, 10, "the API")
        extra = socket.socket()
        extra.bind(("127.0.0.2", 0))
        extra.settimeout(10)
        extra.connect(("127.0.0.1", api))
        got = extra.recv(4096)
        extra.close()
        assert got.startswith(b"HTTP/1.1 503") and b"too many connections" in got, got
        # the same source still reaches the download port (its own budget) and 127.0.0.1 the API
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        s.settimeout(10)
        s.connect(("127.0.0.1", download))
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        s.close()
        assert requests.get(f"http://127.0.0.1:{api}/_ping", timeout=5).text == "OK"
    finally:
        for s in held:
            s.close()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /peer/task?srcCid=" + b"c" * 100_000 + b" HTTP/1.1\r\nHost: s\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nHost: s\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n",
        b"GET /_ping HTTP/1.1\r\nHost: s\r\nX-Big: " + b"v" * 200_000 + b"\r\n\r\n",
    ],
    ids=["100KB request line", "200 headers", "200KB header"],
)
def test_oversized_request_heads_are_4xx_and_the_api_keeps_serving(small_supernode, request_bytes):
    api, _, _ = small_supernode()
    got = raw_exchange(api, [request_bytes], gap=0, read_for=10)
    assert got.startswith(b"HTTP/1.1 4"), got[:200]  # 414 / 431 / 400 from gunicorn's parser
    assert requests.get(f"http://127.0.0.1:{api}/_ping", timeout=5).text == "OK"
