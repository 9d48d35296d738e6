"""Stopping and restarting the supernode (issue 12 item 2; docs/stopping.md):
nothing new is accepted once a stop signal arrives, responses in flight finish within the grace
or are cut, a second signal ends the process at once, and the same ports serve again the moment
the process is gone. Real processes; the time bounds are generous safety bounds, not figures
(tests/bench/supernode_stop.py measures)."""

import hashlib
import os
import pathlib
import signal
import socket
import subprocess
import threading

import pytest

from tests.support.procs import free_port, start_supernode, wait_until
from tests.support.v1client import V1Client

pytestmark = pytest.mark.e2e
MIB = 1024 * 1024
GONE_WITHIN = 20.0  # safety bound for a stop; the grace in test_a_second_signal... is longer


def request_whole_file(port: int, task_id: str, rcvbuf: int = 0) -> socket.socket:
    """A connection to the download port that asked for a task's whole CDN file."""
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: a small window
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET /download/{task_id[:3]}/{task_id} HTTP/1.1\r\nHost: sn\r\n\r\n".encode())
    return sock


def read_response(sock: socket.socket, already: bytes = b"", timeout: float = 30.0) -> "tuple[int, bytes]":
    """(Content-Length, body received until the server closed); `already`: what was read before.
    Never blocks past `timeout` between two reads."""
    sock.settimeout(timeout)
    data = already
    try:
        while True:
            chunk = sock.recv(256 * 1024)
            if not chunk:
                break
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    return length, body


def refuses_connections(port: int) -> bool:
    """True when a new connection is refused, or reset / closed without an answer; a slow answer
    is not a refusal (the caller asks again until its deadline)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: sn\r\n\r\n")
            s.settimeout(5)
            return not s.recv(16)  # accepted into a closing backlog: closed, nothing answered
    except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
        return True
    except OSError:  # a timeout: not an answer, not a refusal
        return False


def wait_gone(proc, timeout: float) -> None:
    try:
        proc.popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the supernode was still running {timeout} s after the stop") from None


@pytest.fixture
def cached_task(tmp_path, origin):
    """A 24 MiB file in the CDN of a running supernode: (proc, api, download, task_id, file bytes)."""
    content = os.urandom(24 * MIB)
    (origin.root / "big.bin").write_bytes(content)
    procs = []

    def start(ports=None, env=None):
        proc, api, download = start_supernode(str(tmp_path / "sn"), str(tmp_path / "sn.out"), env=env, ports=ports)
        procs.append(proc)
        return proc, api, download

    def cache(env=None):
        proc, api, download = start(env=env)
        data, _ = V1Client(f"http://127.0.0.1:{api}").download(origin.url + "/big.bin", timeout=120)
        assert data == content
        [task_dir] = os.listdir(tmp_path / "sn" / "repo" / "download")
        [task_id] = [n for n in os.listdir(tmp_path / "sn" / "repo" / "download" / task_dir) if "." not in n]
        cdn_file = (tmp_path / "sn" / "repo" / "download" / task_dir / task_id).read_bytes()
        return proc, api, download, task_id, cdn_file

    yield cache, start
    for proc in procs:
        proc.stop()


def test_a_stop_accepts_nothing_new_lets_a_transfer_finish_and_a_second_signal_ends_it(cached_task, origin):
    cache, start = cached_task
    proc, api, download, task_id, cdn_file = cache(env={"SUPERNODE_STOP_GRACE": "120s"})
    stalled = request_whole_file(download, task_id, rcvbuf=4096)  # never reads: cannot finish
    active = request_whole_file(download, task_id)
    active.settimeout(30)
    first = b""
    while len(first) < MIB:  # the transfer is under way
        first += active.recv(MIB)
    stalled.settimeout(30)
    assert stalled.recv(1, socket.MSG_PEEK)  # and so is the stalled one

    os.kill(proc.pid, signal.SIGTERM)
    wait_until(
        lambda: refuses_connections(api) and refuses_connections(download),
        10,
        "both ports to refuse new connections after SIGTERM",
    )
    assert proc.alive()  # still serving what is in flight
    rest = {}
    reader = threading.Thread(target=lambda: rest.update(r=read_response(active, first)))
    reader.start()
    reader.join(60)
    active.close()
    length, body = rest["r"]
    assert length == len(cdn_file) and hashlib.sha256(body).digest() == hashlib.sha256(cdn_file).digest()
    assert proc.alive()  # the grace (120 s) is not over

    proc.popen.send_signal(signal.SIGINT)  # the second signal: at once
    wait_gone(proc, GONE_WITHIN)
    _, cut = read_response(stalled)
    stalled.close()
    assert len(cut) < len(cdn_file)

    # the same ports, right away; the cache is still there: no second fetch from the origin
    _, api2, download2 = start(ports=(api, download))
    again, _ = V1Client(f"http://127.0.0.1:{api2}").download(origin.url + "/big.bin", timeout=120)
    assert again == (origin.root / "big.bin").read_bytes()
    assert origin.stats()["gets"]["/big.bin"] == 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_response_that_cannot_finish_is_cut_and_the_ports_are_free_when_the_process_is_gone(cached_task, sig):
    cache, start = cached_task
    proc, api, download, task_id, cdn_file = cache()  # the default grace (3 s)
    stalled = request_whole_file(download, task_id, rcvbuf=4096)
    stalled.settimeout(30)
    assert stalled.recv(1, socket.MSG_PEEK)
    os.killpg(proc.pid, sig)  # as `kill` of the group / Ctrl-C
    wait_gone(proc, GONE_WITHIN)
    for port in (api, download):  # free the moment it is gone
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
    _, cut = read_response(stalled)
    stalled.close()
    assert 0 < len(cut) < len(cdn_file)


def test_a_port_in_use_fails_at_once_without_retrying_the_bind(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        done = subprocess.run(
            [
                "supernode",
                "--home-dir",
                str(tmp_path / "sn"),
                "--port",
                str(free_port()),
                "--download-port",
                str(port),
                "--listen-address",
                "127.0.0.1",
                "--advertise-ip",
                "127.0.0.1",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert f"127.0.0.1:{port} (in use by another process)" in done.stderr and "--download-port" in done.stderr
    assert "Retrying" not in done.stderr and "Traceback" not in done.stderr


def test_a_worker_whose_master_was_killed_leaves_and_frees_the_ports(cached_task):
    cache, _ = cached_task
    proc, api, download, task_id, _ = cache()
    [worker] = [int(p) for p in pathlib.Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    os.kill(proc.pid, signal.SIGKILL)  # the master only (a crash, an OOM kill)
    proc.popen.wait(timeout=10)

    def worker_gone():
        try:
            with open(f"/proc/{worker}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except FileNotFoundError:
            return True

    try:
        wait_until(worker_gone, GONE_WITHIN, "the orphaned worker to leave")
    finally:
        if not worker_gone():
            os.kill(worker, signal.SIGKILL)
    assert refuses_connections(api) and refuses_connections(download)
