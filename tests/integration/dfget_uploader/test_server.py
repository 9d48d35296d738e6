"""The upload server's process parts in-process: bind/reuse, the expiry sweep, orderly shutdown."""

import os
import pathlib
import socket
import threading
import time

import pytest
import requests

from common.protocol.messages import HEADER_CLIENT_KEY
from common.shell.clock import FakeClock
from dfget.uploader import meta
from dfget.uploader.core.policy import data_dir_id
from dfget.uploader.server import ServerOptions, UploadServer, bind
from dfget.uploader.state import UploadState


class Downs(list):
    def __call__(self, super_node, task_id, cid, client_key=""):
        self.append((super_node, task_id, cid))
        self.keys = getattr(self, "keys", []) + [client_key]


@pytest.fixture
def server(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    options = ServerOptions(
        data_dir=str(data),
        meta_path=str(tmp_path / "meta" / "host.meta"),
        ip="127.0.0.1",
        expire_time=180,
        alive_time=300,
    )
    clock = FakeClock()
    state = UploadState(str(data), clock, expire_time=180, alive_time=300)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    downs = Downs()
    srv = UploadServer(options, state, sock, port, down=downs)
    srv.downs, srv.clock, srv.data = downs, clock, data
    yield srv
    srv.stop.set()
    srv.http.server_close()


def test_sweep_deletes_unknown_keeps_unfinished_and_expires_finished(server):
    data, state, clock = server.data, server.state, server.clock
    state.register("running")
    state.register("done")
    state.finish("done", "tid", "cid", "127.0.0.1:8002")
    for name in ("running.service", "done.service", "stray.service"):
        (data / name).write_bytes(b"x")
        os.utime(data / name, (clock.time(), clock.time()))
    (data / "subdir").mkdir()
    (data / "subdir" / "f").write_bytes(b"x")

    server.sweep()
    assert sorted(os.listdir(data)) == ["done.service", "running.service"]
    assert server.downs == []

    clock.advance(181)
    server.sweep()
    assert sorted(os.listdir(data)) == ["running.service"]
    assert server.downs == [("127.0.0.1:8002", "tid", "cid")]
    assert state.get("done") is None and state.get("running") is not None


def test_shutdown_reports_finished_tasks_and_gives_up_host_meta(server):
    server.start()
    meta.write_port(server.options.meta_path, server.port)
    base = f"http://127.0.0.1:{server.port}"
    with requests.Session() as s:
        s.trust_env = False
        assert s.get(base + "/check/done").status_code == 200
        assert s.get(base + "/check/running").status_code == 200
        assert (
            s.get(
                base + "/client/finish",
                params={"taskFileName": "done", "taskID": "t1", "cid": "c1", "superNode": "10.0.0.9:8002"},
                headers={HEADER_CLIENT_KEY: "key-of-c1"},
            ).text
            == "success"
        )
    (server.data / "done.service").write_bytes(b"x")
    (server.data / "running.service").write_bytes(b"x")
    server.request_stop("test")
    server.shutdown()
    assert server.downs == [("10.0.0.9:8002", "t1", "c1")]
    assert server.downs.keys == ["key-of-c1"]  # dfget's client key goes with the service/down
    assert os.listdir(server.data) == ["running.service"]
    assert meta.read_port(server.options.meta_path) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(base + "/server/ping", timeout=1)


def test_shutdown_leaves_another_servers_port_in_host_meta(server):
    meta.write_port(server.options.meta_path, 1)
    server.start()
    server.shutdown()
    assert meta.read_port(server.options.meta_path) == 1


def test_bind_reuses_any_upload_server_of_the_host(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        options = ServerOptions(data_dir=str(tmp_path), meta_path=str(tmp_path / "m"), ip="127.0.0.1", port=port)
        reused = bind(options, 0, ping=lambda ip, p: data_dir_id(str(tmp_path)))
        assert reused.sock is None and reused.port == port
        assert bind(options, 0, ping=lambda ip, p: "").sock is None  # a v1 server: reuse as v1
        assert bind(options, 0, ping=lambda ip, p: "another-home").sock is None  # one server per host
        with pytest.raises(OSError):
            bind(options, 0, ping=lambda ip, p: None)  # not an upload server
    finally:
        busy.close()


def test_meta_round_trip(tmp_path):
    path = str(tmp_path / "meta" / "host.meta")
    assert meta.read_port(path) == 0
    meta.write_port(path, 15123)
    assert meta.read_port(path) == 15123
    assert pathlib.Path(path).read_text() == '{"servicePort":15123}'
    assert os.stat(path).st_mode & 0o777 == 0o755
    (tmp_path / "meta" / "host.meta").write_text("garbage")
    assert meta.read_port(path) == 0


def test_another_homes_data_dir_loses_only_its_expired_task_files(server, tmp_path):
    """One server serves every home (issue 12); what it was not told about there is not its own."""
    data, state, clock = server.data, server.state, server.clock
    other = tmp_path / "other-home" / "data"
    other.mkdir(parents=True)
    state.register("theirs", os.path.realpath(other))
    state.finish("theirs", "tid2", "cid2", "127.0.0.1:8002")
    state.register("running", os.path.realpath(other))
    for name in ("theirs.service", "running.service", "unrelated.service", "notes.txt"):
        (other / name).write_bytes(b"x")
        os.utime(other / name, (clock.time(), clock.time()))
    (other / "subdir").mkdir()
    (data / "stray.service").write_bytes(b"x")

    server.sweep()
    assert sorted(os.listdir(other)) == [
        "notes.txt",
        "running.service",
        "subdir",
        "theirs.service",
        "unrelated.service",
    ]
    assert os.listdir(data) == []  # our own directory is still swept as v1 sweeps it
    clock.advance(181)
    server.sweep()
    assert sorted(os.listdir(other)) == ["notes.txt", "running.service", "subdir", "unrelated.service"]
    assert server.downs == [("127.0.0.1:8002", "tid2", "cid2")]


def test_shutdown_removes_a_finished_task_file_from_its_own_home(server, tmp_path):
    other = tmp_path / "other-home" / "data"
    other.mkdir(parents=True)
    server.state.register("theirs", os.path.realpath(other))
    server.state.finish("theirs", "t", "c", "")
    (other / "theirs.service").write_bytes(b"x")
    (other / "keep.service").write_bytes(b"x")
    server.start()
    server.shutdown()
    assert os.listdir(other) == ["keep.service"]
    assert server.downs == []  # no supernode named: nothing to call


class RecordingSession:
    """A requests.Session stand-in that records what would have been sent."""

    def __init__(self, calls):
        self.calls = calls

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def get(self, url, **kw):
        self.calls.append((url, kw.get("params"), kw.get("allow_redirects")))
        return type("R", (), {"status_code": 200, "text": "{}"})()


def test_service_down_never_calls_a_url_taken_from_a_request():
    from dfget.uploader.server import service_down

    calls = []
    for node in ("http://192.0.2.1/latest/meta-data", "192.0.2.1:80/x", "u@192.0.2.1:80"):
        service_down(node, "t", "c", session=lambda: RecordingSession(calls))
    assert calls == []
    service_down("192.0.2.1:8002", "t", "c", session=lambda: RecordingSession(calls))
    assert calls == [("http://192.0.2.1:8002/peer/service/down", [("taskId", "t"), ("cid", "c")], False)]


def _wait_until(predicate, timeout: float = 10.0) -> bool:
    done = threading.Event()
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        done.wait(0.02)
    return True


def _connect_from(source_ip: str, port: int) -> socket.socket:
    """A connection from another loopback address: another host, as far as the server can tell."""
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source_ip, 0))


def test_one_host_cannot_take_every_connection(server):
    server.http.max_per_address = 2
    server.start()
    held = [_connect_from("127.0.0.2", server.port) for _ in range(2)]
    try:
        assert _wait_until(lambda: len(server.http._open) == 2)
        with _connect_from("127.0.0.2", server.port) as third:
            assert third.recv(100) == b""  # closed at once, no thread spent on it
        with requests.Session() as s:  # this host and other hosts are still served
            s.trust_env = False
            assert s.get(f"http://127.0.0.1:{server.port}/server/ping", timeout=5).text == "success"
        with _connect_from("127.0.0.3", server.port) as other:
            other.sendall(b"GET /server/ping HTTP/1.0\r\n\r\n")
            answer = b""
            while chunk := other.recv(1000):
                answer += chunk
            assert answer.endswith(b"\r\n\r\nsuccess")
    finally:
        for c in held:
            c.close()
    assert _wait_until(lambda: len(server.http._open) == 0)


def test_a_peer_that_stops_reading_is_cut_and_the_server_can_idle_out(server):
    server.http.RequestHandlerClass.timeout = 0.5  # SOCKET_TIMEOUT, shortened for the test
    server.state.register("big")
    (server.data / "big.service").write_bytes(os.urandom(8 << 20))
    server.start()
    with _connect_from("127.0.0.2", server.port) as peer:
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        peer.sendall(
            b"GET /peer/file/big HTTP/1.1\r\nHost: x\r\nRange: bytes=0-8388607\r\n"
            b"pieceNum: 0\r\npieceSize: 8388608\r\ncdnSource: source\r\n\r\n"
        )
        assert _wait_until(lambda: server.state.active_uploads == 1)
        # never reads: the server's send blocks, times out, and the upload ends
        assert _wait_until(lambda: server.state.active_uploads == 0, timeout=20)
    server.clock.advance(301)
    assert server.state.idle()


def test_a_host_trickling_its_request_head_is_cut(server):
    """Slow loris: one header byte at a time, each within the socket timeout, for ever."""
    server.http.head_deadline = 0.5  # HEAD_DEADLINE, shortened for the test
    server.start()
    gave_up = threading.Event()
    with _connect_from("127.0.0.2", server.port) as loris:
        loris.sendall(b"GET /server/ping HTTP/1.1\r\nHost: x\r\n")
        loris.settimeout(0.2)
        deadline = time.monotonic() + 15
        closed = False
        while time.monotonic() < deadline and not closed:
            try:
                loris.sendall(b"X")
                closed = loris.recv(100) == b""
            except TimeoutError:
                continue
            except OSError:  # reset: cut as well
                closed = True
        assert closed, "a trickled request head kept its connection open"
    gave_up.wait(0)
    assert server.http.cut >= 1
    with requests.Session() as s:  # everyone else is served as before
        s.trust_env = False
        assert s.get(f"http://127.0.0.1:{server.port}/server/ping", timeout=5).text == "success"
