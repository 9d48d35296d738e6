"""The real `dfget server` process, started by the launcher as dfget would
(docs/architecture.md#the-upload-servers-life-cycle).

Every spawned server is stopped by its PID in a finaliser; every wait has a deadline.
"""

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from common.pieces import frame_header
from dfget.uploader import meta
from dfget.uploader.launcher import UploaderStartError, client_finish, ensure_server, request_rate, server_argv
from tests.support.procs import START_DEADLINE, free_port, wait_until

NAME = "out.bin-4242-1600000000.123"
PIECE_SIZE = 4194304


@pytest.fixture
def spawned():
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture
def supernode():
    """A tiny fake supernode on 127.0.0.1:0 recording every request."""
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlsplit(self.path)
            seen.append((url.path, parse_qs(url.query)))
            body = json.dumps({"code": 612, "msg": "peer down"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.seen = seen
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def layout(tmp_path):
    home = tmp_path / "home"
    return home, home / "data", home / "meta" / "host.meta"


def options(tmp_path, spawned, **over):
    home, data, meta_path = layout(tmp_path)
    kw = dict(
        home=str(home),
        data_dir=str(data),
        meta_path=str(meta_path),
        ip="127.0.0.1",
        port=free_port(),
        expire_time=180,
        alive_time=300,
        verbose=True,
        total_limit=0,
        on_spawn=spawned.append,
    )
    kw.update(over)
    return kw


def test_spawn_reuse_serve_and_sigterm(tmp_path, spawned, supernode):
    home, data, meta_path = layout(tmp_path)
    kw = options(tmp_path, spawned)
    started = ensure_server(task_file_name=NAME, **kw)
    port = started.port
    assert port == kw["port"] and len(spawned) == 1
    assert meta.read_port(str(meta_path)) == port  # announced before the process serves
    assert started.wait_registered(60)

    # A second dfget on this host reuses the server: no new process.
    assert ensure_server(task_file_name="other-1-2.3", **kw).port == port
    assert len(spawned) == 1

    content = os.urandom(3000)
    (data / f"{NAME}.service").write_bytes(content)
    with requests.Session() as s:
        s.trust_env = False
        r = s.get(
            f"http://127.0.0.1:{port}/peer/file/{NAME}",
            timeout=5,
            headers={"Range": f"bytes=0-{PIECE_SIZE - 1}", "pieceNum": "0", "pieceSize": str(PIECE_SIZE)},
        )
    assert r.status_code == 206
    assert r.content == frame_header(3000, PIECE_SIZE) + content + b"\x7f"

    assert request_rate(port, NAME, 1000, ip="127.0.0.1") == 1000
    sn = f"127.0.0.1:{supernode.server_address[1]}"
    assert client_finish(port, NAME, "tid-1", "cid-1", sn, ip="127.0.0.1")

    proc = spawned[0]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    assert supernode.seen == [("/peer/service/down", {"taskId": ["tid-1"], "cid": ["cid-1"]})]
    assert meta.read_port(str(meta_path)) == 0
    assert not (data / f"{NAME}.service").exists()
    log_text = (home / "logs" / "dfserver.log").read_text()
    assert f"sign:{proc.pid}-" in log_text and "shutting down" in log_text


def test_a_new_server_serves_its_starters_task_before_any_check(tmp_path, spawned):
    """A peer may ask for the starting dfget's first piece before the launcher's /check reaches
    the new server (the supernode hands the piece out as soon as dfget reports it). The server
    knows that task from its command line: the early request waits in the backlog and is served,
    never answered "unknown task" (which black-lists the host for the asking peer)."""
    home, data, meta_path = layout(tmp_path)
    data.mkdir(parents=True)
    content = os.urandom(3000)
    (data / f"{NAME}.service").write_bytes(content)
    port = free_port()
    argv = server_argv(
        home=str(home),
        data_dir=str(data),
        meta_path=str(meta_path),
        ip="127.0.0.1",
        port=port,
        expire_time=180,
        alive_time=300,
        verbose=False,
        task_file_name=NAME,
    )
    spawned.append(
        subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
    )

    def early_piece():
        with requests.Session() as s:
            s.trust_env = False
            return s.get(
                f"http://127.0.0.1:{port}/peer/file/{NAME}",
                timeout=5,
                headers={"Range": f"bytes=0-{PIECE_SIZE - 1}", "pieceNum": "0", "pieceSize": str(PIECE_SIZE)},
            )

    r = wait_until(lambda: [early_piece()], START_DEADLINE, "the new upload server to answer")[0]
    assert r.status_code == 206, r.text
    assert r.content == frame_header(3000, PIECE_SIZE) + content + b"\x7f"


def test_generated_port_and_idle_shutdown(tmp_path, spawned):
    _, _, meta_path = layout(tmp_path)
    port = ensure_server(task_file_name=NAME, **options(tmp_path, spawned, port=0, alive_time=0.5)).port
    assert 15000 <= port <= 65535
    assert spawned[0].wait(timeout=60) == 0  # nobody asked anything for 0.5 s
    assert meta.read_port(str(meta_path)) == 0


def test_a_running_server_missing_from_host_meta_is_found_and_reused(tmp_path, spawned):
    _, _, meta_path = layout(tmp_path)
    kw = options(tmp_path, spawned, port=0)
    first = ensure_server(task_file_name=NAME, **kw)
    assert first.wait_registered(60)
    os.unlink(meta_path)
    again = ensure_server(task_file_name=NAME, **kw)
    assert again.port == first.port and again.spawned is None and len(spawned) == 1
    assert meta.read_port(str(meta_path)) == first.port


def test_a_second_home_shares_the_hosts_server(tmp_path, spawned):
    # Both derive the same ports; b finds a's server there and registers its task with it (v1: one
    # upload server per host, serving every home).
    a = ensure_server(task_file_name=NAME, **options(tmp_path / "a", spawned, port=0))
    assert a.wait_registered(60)
    b = ensure_server(task_file_name="other-1-2.3", **options(tmp_path / "b", spawned, port=0))
    assert b.port == a.port and b.spawned is None and len(spawned) == 1
    assert meta.read_port(str(tmp_path / "b" / "home" / "meta" / "host.meta")) == a.port


def test_derived_ports_all_taken_means_any_free_port_not_p2p_off(tmp_path, spawned):
    from dfget.uploader.core import policy

    taken = []
    try:
        for port in policy.port_candidates(0, time.time()):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
            try:
                s.bind(("127.0.0.1", port))
                s.listen(1)
                taken.append(s)
            except OSError:
                s.close()
        started = ensure_server(task_file_name=NAME, **options(tmp_path, spawned, port=0))
        assert started.port not in {s.getsockname()[1] for s in taken}
        assert started.wait_registered(60)
    finally:
        for s in taken:
            s.close()


def test_an_explicit_port_that_is_taken_is_a_clear_error(tmp_path, spawned):
    with socket.socket() as busy:  # something that is not an upload server holds the port
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        with pytest.raises(UploaderStartError, match="not free"):
            ensure_server(task_file_name=NAME, **options(tmp_path, spawned, port=busy.getsockname()[1]))
    assert spawned == []


def test_a_server_that_never_comes_up_is_reported(tmp_path, spawned):
    failures, reported = [], threading.Event()
    kw = options(
        tmp_path,
        spawned,
        on_failure=lambda m: (failures.append(m), reported.set()),
        register_deadline=60,
        dfget_argv0="/bin/false",
    )  # a "server" that exits at once
    started = ensure_server(task_file_name=NAME, **kw)
    assert reported.wait(60), "the failed start was never reported"
    assert "shares no pieces" in failures[0] and "exited" in failures[0]
    assert not started.wait_registered(0) and started.failed


def test_server_argv():
    common = dict(
        home="/h",
        data_dir="/h/data",
        meta_path="/h/meta/host.meta",
        ip="",
        port=0,
        expire_time=180,
        alive_time="5m",
        verbose=True,
    )
    argv = server_argv(**common)
    assert argv[:3] == [sys.executable, "-m", "dfget.uploader.command"]
    assert argv[3:] == [
        "--ip",
        "",
        "--port",
        "0",
        "--meta",
        "/h/meta/host.meta",
        "--data",
        "/h/data",
        "--home",
        "/h",
        "--expiretime",
        "3m",
        "--alivetime",
        "5m",
        "--verbose",
    ]
    assert server_argv(**common, dfget_argv0="/usr/local/bin/dfget")[:2] == ["/usr/local/bin/dfget", "server"]
    assert server_argv(**common, task_file_name=NAME)[-2:] == ["--task", NAME]
