"""The upload server streams a piece dfget is still receiving (docs/decisions.md #25): over a real
socket, with a thread standing in for dfget that writes the service file and the flight file."""

import hashlib
import http.client
import os
import socket
import threading
import time

import pytest
from flask import Flask, Response

from common.dfget_files import flight_file_name, service_file_name
from common.pieces import MIB, frame, payload_size
from common.protocol.messages import HEADER_STREAMS_PIECES
from common.shell.clock import SystemClock
from common.shell.flight import FlightWriter
from common.version import VERSION
from dfget.uploader import app as upload_app
from dfget.uploader import meta
from dfget.uploader.launcher import ensure_server
from dfget.uploader.server import ServerOptions, UploadServer
from dfget.uploader.state import UploadState
from tests.integration.dfget.fakes import serve

NAME = "layer-4242-1700000000.123"
PIECE = MIB
PAYLOAD = os.urandom(payload_size(PIECE))
HALF = len(PAYLOAD) // 2
WAIT = 10.0  # s: every wait in these tests has a deadline
PROMPT = 5.0  # s: a cut comes this soon, well before the stall deadline (upload_app.FLIGHT_STALL)


@pytest.fixture
def live(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    options = ServerOptions(data_dir=str(data), meta_path=str(tmp_path / "meta" / "host.meta"), ip="127.0.0.1")
    state = UploadState(str(data), SystemClock(), expire_time=180, alive_time=300)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    srv = UploadServer(options, state, sock, sock.getsockname()[1], down=lambda *a: None)
    srv.start()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=WAIT)
    conn.request("GET", f"/check/{NAME}")
    checked = conn.getresponse()
    assert checked.status == 200 and checked.getheader(HEADER_STREAMS_PIECES) == "1"
    checked.read()
    conn.close()
    service = data / service_file_name(NAME)
    service.write_bytes(b"")
    writer = FlightWriter(str(data / flight_file_name(NAME)))
    yield type("Live", (), dict(port=srv.port, data=data, service=str(service), flight=writer))
    writer.close()
    srv.request_stop("test")
    srv.http.shutdown()
    srv.http.server_close()


def write(live, start: int, end: int) -> None:
    fd = os.open(live.service, os.O_WRONLY)
    try:
        os.pwrite(fd, PAYLOAD[start:end], start)
    finally:
        os.close(fd)


def ask(live, num: int = 0, rng: "str | None" = None, **headers):
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=WAIT)
    start = num * PIECE
    conn.request(
        "GET",
        f"/peer/file/{NAME}",
        headers={
            "Range": rng or f"bytes={start}-{start + PIECE - 1}",
            "pieceNum": str(num),
            "pieceSize": str(PIECE),
            **headers,
        },
    )
    return conn, conn.getresponse()


def read_rest(resp) -> bytes:
    """The rest of the body; whatever arrived before the server cut the connection."""
    try:
        return resp.read()
    except http.client.IncompleteRead as e:
        return e.partial
    except (ConnectionError, TimeoutError):
        return b""


def test_a_piece_in_flight_streams_as_it_is_written_and_arrives_whole(live):
    attempt = live.flight.begin(0, 0, len(PAYLOAD))
    go = threading.Event()

    def dfget():  # the first half in small chunks, then the rest once the client has it
        step = 64 * 1024
        for pos in range(0, HALF, step):
            write(live, pos, min(pos + step, HALF))
            live.flight.progress(0, attempt, min(pos + step, HALF))
        assert go.wait(WAIT)
        for pos in range(HALF, len(PAYLOAD), step):
            end = min(pos + step, len(PAYLOAD))
            write(live, pos, end)
            live.flight.progress(0, attempt, end)
        live.flight.done(0, attempt)

    thread = threading.Thread(target=dfget, daemon=True)
    thread.start()
    conn, resp = ask(live)
    assert resp.status == 206
    assert resp.getheader("Content-Length") == str(PIECE)  # the whole piece, not what the file holds
    first = resp.read(4 + HALF)  # arrives while the file holds only half of the piece
    assert os.path.getsize(live.service) == HALF
    go.set()
    body = first + read_rest(resp)
    thread.join(WAIT)
    conn.close()
    assert body == frame(PAYLOAD, PIECE)
    assert hashlib.md5(body).hexdigest() == hashlib.md5(frame(PAYLOAD, PIECE)).hexdigest()


def test_a_failed_attempt_cuts_the_stream(live):
    attempt = live.flight.begin(0, 0, len(PAYLOAD))
    write(live, 0, HALF)
    live.flight.progress(0, attempt, HALF)
    conn, resp = ask(live)
    assert resp.status == 206
    got = resp.read(4 + HALF)
    live.flight.failed(0, attempt)
    write(live, HALF, len(PAYLOAD))  # bytes after the failure are never sent as this piece
    started = time.monotonic()
    body = got + read_rest(resp)
    conn.close()
    assert len(body) < PIECE and time.monotonic() - started < PROMPT


def test_an_attempt_started_over_cuts_a_stream_of_the_old_one(live):
    first = live.flight.begin(0, 0, len(PAYLOAD))
    write(live, 0, HALF)
    live.flight.progress(0, first, HALF)
    conn, resp = ask(live)
    got = resp.read(4 + HALF)
    live.flight.failed(0, first)
    second = live.flight.begin(0, 0, len(PAYLOAD))  # the new attempt gets ahead of what was sent
    write(live, 0, len(PAYLOAD))
    live.flight.progress(0, second, len(PAYLOAD))
    started = time.monotonic()
    body = got + read_rest(resp)
    conn.close()
    assert len(body) < PIECE and time.monotonic() - started < PROMPT


def test_a_removed_flight_file_leaves_the_rest_to_the_service_file(live):
    attempt = live.flight.begin(0, 0, len(PAYLOAD))
    write(live, 0, HALF)
    live.flight.progress(0, attempt, HALF)
    conn, resp = ask(live)
    got = resp.read(4 + HALF)
    write(live, HALF, len(PAYLOAD))
    os.remove(live.data / flight_file_name(NAME))  # the download ended: the piece is complete
    body = got + read_rest(resp)
    conn.close()
    assert body == frame(PAYLOAD, PIECE)


def test_a_piece_that_brings_nothing_new_is_cut_after_the_stall_deadline(live, monkeypatch):
    monkeypatch.setattr(upload_app, "FLIGHT_STALL", 0.3)
    attempt = live.flight.begin(0, 0, len(PAYLOAD))
    write(live, 0, 1000)
    live.flight.progress(0, attempt, 1000)
    conn, resp = ask(live)
    body = read_rest(resp)
    conn.close()
    assert 4 <= len(body) < PIECE and body[4:] == PAYLOAD[:1000]


def test_requests_for_other_pieces_are_answered_from_the_file_as_before(live):
    live.flight.begin(0, 0, len(PAYLOAD))  # piece 0 in flight, nothing written yet
    conn, resp = ask(live, num=1)  # the file holds nothing of piece 1: an empty frame, as without cut-through
    assert resp.status == 206 and resp.getheader("Content-Length") == "5"
    resp.read()
    conn.close()
    conn, resp = ask(live, num=0, rng="bytes=4096-8191", cdnSource="source")  # raw bytes past the file
    assert resp.status == 416
    resp.read()
    conn.close()


def checking_app(says_it_streams: bool) -> Flask:
    """An upload server of ours as far as /check goes, with or without the streaming header (one
    from before cut-through sends none)."""
    app = Flask("check-only")

    @app.get("/check/<name>")
    def check(name):
        resp = Response(f"{name}@{VERSION}", mimetype="text/plain")
        if says_it_streams:
            resp.headers[HEADER_STREAMS_PIECES] = "1"
        return resp

    return app


@pytest.mark.parametrize("says_it_streams", [True, False])
def test_dfget_counts_on_streaming_only_from_a_server_that_says_so(tmp_path, says_it_streams):
    home = tmp_path / "home"
    meta_path = home / "meta" / "host.meta"
    meta_path.parent.mkdir(parents=True)
    spawned: list = []
    with serve(checking_app(says_it_streams)) as port:
        meta.write_port(str(meta_path), port)
        started = ensure_server(
            home=str(home),
            data_dir=str(home / "data"),
            meta_path=str(meta_path),
            ip="127.0.0.1",
            port=0,
            expire_time=180,
            alive_time=300,
            verbose=False,
            task_file_name=NAME,
            total_limit=0,
            on_spawn=spawned.append,
        )
    assert spawned == [] and started.port == port
    assert started.streams_pieces is says_it_streams


def test_a_piece_whose_attempt_failed_is_never_served_from_the_file(live):
    attempt = live.flight.begin(0, 0, len(PAYLOAD))
    write(live, 0, len(PAYLOAD))  # every byte is in, but the piece failed its md5
    live.flight.progress(0, attempt, len(PAYLOAD))
    live.flight.failed(0, attempt)
    started = time.monotonic()
    conn, resp = ask(live)
    body = read_rest(resp) if resp.status == 206 else b""
    conn.close()
    assert len(body) <= 4 and time.monotonic() - started < PROMPT


def test_a_request_just_ahead_of_the_fetch_waits_for_it_to_begin(live, monkeypatch):
    """The supernode names a fetcher as a piece's source; the request may arrive before the
    fetcher's worker has begun the piece: it waits for the record instead of an empty frame."""
    waiting = threading.Event()  # the server is waiting for piece 0's fetch to begin
    await_start = upload_app._await_start

    def observed(*args):
        waiting.set()
        return await_start(*args)

    monkeypatch.setattr(upload_app, "_await_start", observed)

    def dfget():
        waiting.wait(WAIT)
        attempt = live.flight.begin(0, 0, len(PAYLOAD))
        write(live, 0, len(PAYLOAD))
        live.flight.progress(0, attempt, len(PAYLOAD))
        live.flight.done(0, attempt)

    thread = threading.Thread(target=dfget, daemon=True)
    thread.start()
    conn, resp = ask(live)
    assert resp.status == 206 and resp.getheader("Content-Length") == str(PIECE)
    body = read_rest(resp)
    thread.join(WAIT)
    conn.close()
    assert waiting.is_set() and body == frame(PAYLOAD, PIECE)


def test_a_piece_never_begun_is_answered_from_the_file_after_the_start_wait(live, monkeypatch):
    monkeypatch.setattr(upload_app, "FLIGHT_START", 0.3)
    started = time.monotonic()
    conn, resp = ask(live)  # the download runs (its flight file exists) but never begins piece 0
    assert resp.status == 206 and resp.getheader("Content-Length") == "5"  # as without cut-through
    resp.read()
    conn.close()
    assert 0.25 <= time.monotonic() - started < PROMPT
