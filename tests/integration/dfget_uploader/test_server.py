"""The upload server's process parts in-process: bind/reuse, the expiry sweep, orderly shutdown."""
import os
import socket

import pytest
import requests

from common.clock import FakeClock
from common.protocol.messages import HEADER_CLIENT_KEY
from dfget.uploader import meta
from dfget.uploader.policy import data_dir_id
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
    options = ServerOptions(data_dir=str(data), meta_path=str(tmp_path / "meta" / "host.meta"), ip="127.0.0.1",
                            expire_time=180, alive_time=300)
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
        assert s.get(base + "/client/finish", params={"taskFileName": "done", "taskID": "t1", "cid": "c1",
                                                      "superNode": "10.0.0.9:8002"},
                     headers={HEADER_CLIENT_KEY: "key-of-c1"}).text == "success"
    (server.data / "done.service").write_bytes(b"x")
    (server.data / "running.service").write_bytes(b"x")
    server.request_stop("test")
    server.shutdown()
    assert server.downs == [("10.0.0.9:8002", "t1", "c1")]
    assert server.downs.keys == ["key-of-c1"]        # dfget's client key goes with the service/down
    assert os.listdir(server.data) == ["running.service"]
    assert meta.read_port(server.options.meta_path) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(base + "/server/ping", timeout=1)


def test_shutdown_leaves_another_servers_port_in_host_meta(server):
    meta.write_port(server.options.meta_path, 1)
    server.start()
    server.shutdown()
    assert meta.read_port(server.options.meta_path) == 1


def test_bind_reuses_our_own_server_and_skips_another_homes(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        options = ServerOptions(data_dir=str(tmp_path), meta_path=str(tmp_path / "m"), ip="127.0.0.1", port=port)
        own = data_dir_id(str(tmp_path))
        reused = bind(options, 0, own, ping=lambda ip, p: own)
        assert reused.sock is None and reused.port == port
        assert bind(options, 0, own, ping=lambda ip, p: "").sock is None       # a v1 server: reuse as v1
        with pytest.raises(OSError):
            bind(options, 0, own, ping=lambda ip, p: "someone-else")            # one try with --port
        with pytest.raises(OSError):
            bind(options, 0, own, ping=lambda ip, p: None)                      # not an upload server
    finally:
        busy.close()


def test_meta_round_trip(tmp_path):
    path = str(tmp_path / "meta" / "host.meta")
    assert meta.read_port(path) == 0
    meta.write_port(path, 15123)
    assert meta.read_port(path) == 15123
    assert open(path).read() == '{"servicePort":15123}'
    assert os.stat(path).st_mode & 0o777 == 0o755
    (tmp_path / "meta" / "host.meta").write_text("garbage")
    assert meta.read_port(path) == 0
