"""The upload server facing hostile requests (RELIABILITY.md), beyond test_app.py's traversal and
header cases: absurd and inverted ranges, huge headers over a real socket, unknown files; every one
is a 4xx and nothing outside the data directory is read."""

import socket

import pytest

from common.shell.clock import FakeClock
from dfget.uploader.server import ServerOptions, UploadServer
from dfget.uploader.state import UploadState
from tests.integration.dfget_uploader.test_app import (
    CONTENT,
    NAME,
    SECRET,
    env,  # noqa: F401 - the fixture
    piece_headers,
    register,
)
from tests.support.rawhttp import exchange


@pytest.mark.parametrize(
    "rng",
    [
        "bytes=1999-0",  # inverted
        "bytes=-5",  # suffix ranges are not piece ranges
        "bytes=5-",
        "bytes=0-99999999999999999999999999",  # absurdly long
        "bytes=99999999999999999999-99999999999999999999",
        "bytes=0-1999,0-1999",  # multipart
        "bytes=-1--1",
        "items=0-1999",
        "bytes=\u00bd-1",
        "",
    ],
)
def test_absurd_ranges_are_4xx(env, rng):  # noqa: F811
    register(env, content=CONTENT)
    r = env.client.get(f"/peer/file/{NAME}", headers=piece_headers(rng))
    assert 400 <= r.status_code < 500, (rng, r.status_code)


@pytest.mark.parametrize(
    "headers",
    [
        {"pieceSize": "0"},
        {"pieceSize": "-4194304"},
        {"pieceSize": str(1 << 62)},
        {"pieceNum": "-1"},
        {"pieceNum": str(1 << 70)},
    ],
)
def test_absurd_piece_headers_are_4xx(env, headers):  # noqa: F811
    register(env, content=CONTENT)
    r = env.client.get(f"/peer/file/{NAME}", headers={**piece_headers("bytes=0-1999"), **headers})
    assert 400 <= r.status_code < 500, (headers, r.status_code)


@pytest.mark.parametrize("name", ["never-registered", "x" * 4000, "%00", "a.service", "...."])
def test_unknown_files_are_404_or_400(env, name):  # noqa: F811
    (env.root / "home" / "data" / "never-registered.service").write_bytes(SECRET)
    r = env.client.get(f"/peer/file/{name}", headers=piece_headers("bytes=0-100"))
    assert r.status_code in (400, 404) and SECRET not in r.data


@pytest.fixture
def live(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    options = ServerOptions(data_dir=str(data), meta_path=str(tmp_path / "meta" / "host.meta"), ip="127.0.0.1")
    state = UploadState(str(data), FakeClock(), expire_time=180, alive_time=300)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    srv = UploadServer(options, state, sock, sock.getsockname()[1], down=lambda *a: None)
    srv.start()
    yield srv
    srv.request_stop("test")
    srv.http.shutdown()
    srv.http.server_close()


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /server/ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
        b"GET /server/ping HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(500)) + b"\r\n",
        b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 64,
        b"GARBAGE\r\n\r\n",
    ],
)
def test_huge_or_broken_requests_on_a_real_socket_get_4xx_and_the_server_lives(live, raw):
    answer = exchange(live.port, raw)
    status = answer.split(b" ", 2)[1] if answer.startswith(b"HTTP/") else answer.partition(b"Error code: ")[2][:3]
    assert answer == b"" or status.startswith(b"4"), answer[:200]
    assert exchange(live.port, b"GET /server/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").endswith(
        b"success"
    )
