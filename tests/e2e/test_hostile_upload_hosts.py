"""Hostile hosts against a real dfget upload server, and a dfget on a throttled host (issue 11
items 1 and 9).

Other hosts are played by other loopback addresses (127.0.0.2, 127.0.0.3): the upload server
honours control requests only from 127.0.0.1 / its own address. Figures (latency of a
legitimate peer during the attack, RSS growth, time from FAIL to exit) are printed for
RELIABILITY.md, never asserted.
"""

import os
import socket
import subprocess
import threading
import time

import pytest

from tests.support.dfget_runs import DfgetRunner

pytestmark = pytest.mark.e2e
MIB = 1024 * 1024


def raw_get(port: int, path: str, source_ip: str, headers: "dict[str, str]" = None) -> "tuple[int, bytes]":
    """One GET from `source_ip` (another host, as far as the server can tell) -> (status, body)."""
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source_ip, 0)) as c:
        c.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        out = b""
        while chunk := c.recv(65536):
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class SuperNodeTrap:
    """A listener standing for the attacker's URL: counts every connection made to it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.hits += 1
            conn.close()

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def runner(tmp_path, supernode):
    r = DfgetRunner(tmp_path, node=f"127.0.0.1:{supernode.api_port}")
    yield r
    r.stop_all()


def test_other_hosts_cannot_throttle_or_redirect_a_hosts_upload_server(tmp_path, supernode, origin, runner):
    content = os.urandom(3 * MIB)
    (origin.root / "one.bin").write_bytes(content)
    (origin.root / "two.bin").write_bytes(os.urandom(2 * MIB))
    first = runner.run("-u", origin.url + "/one.bin", "-o", str(tmp_path / "one.bin"), home="peer")
    assert first.returncode == 0, first.stdout + first.stderr
    port = runner.upload_port("peer")
    [server_pid] = runner.upload_pids("peer")
    data_dir = tmp_path / "dfget-homes" / "peer" / "data"
    [service] = [n for n in os.listdir(data_dir) if n.endswith(".service")]
    name = service[: -len(".service")]
    trap = SuperNodeTrap()
    piece = {"Range": f"bytes=0-{MIB - 1}", "pieceNum": "0", "pieceSize": str(MIB), "cdnSource": "source"}
    attacks = [
        (f"/check/{name}", {"totalLimit": "1"}),
        ("/check/x", {"totalLimit": "1", "dataDir": "/etc"}),
        (f"/rate/{name}", {"rateLimit": "1"}),
        (f"/client/finish?taskFileName={name}&taskID=t&cid=c&superNode=127.0.0.1:{trap.port}", {}),
        (f"/client/finish?taskFileName=x&taskID=t&cid=c&superNode=http://127.0.0.1:{trap.port}/x", {}),
    ]
    statuses, latencies = set(), []
    rss_before = rss_kib(server_pid)
    stop = threading.Event()

    def flood():
        for i in range(2000):
            if stop.is_set():
                return
            path, headers = attacks[i % len(attacks)]
            statuses.add(raw_get(port, path, "127.0.0.2", headers)[0])

    attacker = threading.Thread(target=flood, daemon=True)
    try:
        attacker.start()
        for _ in range(20):  # a legitimate peer on another host keeps getting pieces meanwhile
            started = time.monotonic()
            status, body = raw_get(port, f"/peer/file/{name}", "127.0.0.3", piece)
            latencies.append(time.monotonic() - started)
            assert status == 206 and body == content[:MIB]
        attacker.join(120)
        assert not attacker.is_alive()
        rss_after = rss_kib(server_pid)

        assert statuses == {403}
        # nothing changed: no limit (the asked rate comes back as is), the trap was never called
        ok, body = raw_get(port, f"/rate/{name}", "127.0.0.1", {"rateLimit": "5000"})
        assert (ok, body) == (200, b"5000")
        second = runner.run("-u", origin.url + "/two.bin", "-o", str(tmp_path / "two.bin"), home="peer")
        assert second.returncode == 0, second.stdout + second.stderr
        assert "download SUCCESS" in second.stdout
        runner.stop_all()  # shutdown reports finished tasks down: only to the real supernode
        assert trap.hits == 0
    finally:
        stop.set()
        trap.close()
    latencies.sort()
    print(
        f"\nlegit piece (1 MiB) latency during 2000 hostile control requests: "
        f"median {latencies[len(latencies) // 2] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms; "
        f"upload server RSS {rss_before} -> {rss_after} KiB"
    )


def test_a_dfget_on_a_throttled_host_exits_right_after_fail(tmp_path, supernode, origin, runner):
    """The host's own limit of 1 B/s (what an attacker set before the fix): the next dfget fails
    by its deadline and its process ends with its last line, instead of living on for minutes."""
    (origin.root / "one.bin").write_bytes(os.urandom(MIB))
    # many pieces: the limit's answer (asked when the first pieces start) lands long before the end
    (origin.root / "two.bin").write_bytes(os.urandom(32 * MIB))
    assert runner.run("-u", origin.url + "/one.bin", "-o", str(tmp_path / "one.bin"), home="peer").returncode == 0
    port = runner.upload_port("peer")
    status, _ = raw_get(port, "/check/poison", "127.0.0.1", {"totalLimit": "1"})
    assert status == 200
    proc = runner.start("-u", origin.url + "/two.bin", "-o", str(tmp_path / "two.bin"), "--timeout", "3s", home="peer")
    fail_seen = []

    def read():
        for line in proc.stdout:
            if line.startswith("download FAIL"):
                fail_seen.append(time.monotonic())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        pytest.fail("dfget still running 60 s after it started with a 3 s timeout")
    reader.join(10)
    exited = time.monotonic()
    assert proc.returncode != 0 and fail_seen
    assert [n for n in os.listdir(tmp_path) if n.startswith("backsource.") or ".tmp-" in n] == []
    print(f"\ndfget on a 1 B/s host: exit {exited - fail_seen[0]:.2f} s after its FAIL line")
