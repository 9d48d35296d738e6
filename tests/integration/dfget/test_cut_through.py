"""dfget's side of cut-through (docs/decisions.md #25): a framed piece lands in the service file as
it arrives and the flight file follows it; a bad piece is marked failed; the registration says
`streamsPieces` only when the upload server streams."""

import hashlib
import os
import random
import threading
import types

import pytest
from flask import Flask, Response, request

from common.dfget_files import FLIGHT_SUFFIX
from common.pieces import MIB, frame, payload_size
from common.shell import flight
from common.shell.flight import FlightReader
from dfget.downloaders.writer import FileAssembly, LandingAbandoned
from dfget.services import Services
from tests.integration.dfget.fakes import HOLD_DEADLINE, FakeSupernode, FakeUploader, piece_app, serve, split
from tests.support.procs import wait_until

SIZE = MIB
CONTENT = os.urandom(int(2.5 * MIB))  # three pieces
FIRST = 4 + 600 * 1024  # bytes of piece 0 (its frame header included) sent before it holds


def held_piece_app(go: threading.Event) -> Flask:
    """Serves framed pieces; piece 0 stops after FIRST bytes until `go` (deadline-bounded)."""
    app = Flask("held-pieces")
    pieces = split(CONTENT, SIZE)

    @app.route("/<kind>/<name>")
    def piece(kind, name):
        num = int(request.headers["pieceNum"])
        body = frame(pieces[num], SIZE)
        if num != 0:
            return Response(body, status=206, mimetype="application/octet-stream")

        def parts():
            yield body[:FIRST]
            if go.wait(HOLD_DEADLINE):
                yield body[FIRST:]

        resp = Response(parts(), status=206, mimetype="application/octet-stream", direct_passthrough=True)
        resp.headers["Content-Length"] = str(len(body))
        return resp

    return app


def run_in_thread(dfget, *args, services):
    done: list = []
    thread = threading.Thread(target=lambda: done.append(dfget(*args, services=services)), daemon=True)
    thread.start()
    return thread, done


def flight_files(home):
    data = home / "data"
    return sorted(data.glob("*" + FLIGHT_SUFFIX)) if data.exists() else []


def test_a_piece_lands_in_the_service_file_as_it_arrives(dfget, tmp_path, home, origin):
    files, base, origin_app = origin
    files["big.bin"] = CONTENT
    go = threading.Event()
    with serve(held_piece_app(go)) as piece_port:
        sn = FakeSupernode(CONTENT, SIZE, piece_port)
        with serve(sn.app()) as sn_port:
            out = tmp_path / "out" / "big.bin"
            services = Services(rng=random.Random(1), uploader=FakeUploader(port=15001, streams_pieces=True))
            thread, done = run_in_thread(
                dfget, "-u", f"{base}/big.bin", "-o", str(out), "-n", f"127.0.0.1:{sn_port}", services=services
            )
            try:

                def piece0():
                    found = flight_files(home)
                    if not found:
                        return None
                    reader = FlightReader.open(str(found[0]))
                    if reader is None:
                        return None
                    try:
                        f = reader.read(0)
                    finally:
                        reader.close()
                    return f if f.open and f.written > 0 else None

                wait_until(lambda: piece0() is not None, HOLD_DEADLINE, "piece 0 in flight with bytes written")
                now = piece0()
                assert now is not None
                assert now.offset == 0 and now.length == payload_size(SIZE)
                assert 0 < now.written <= FIRST - 4 < now.length  # part of it, while the rest is held back
                service = flight_files(home)[0].with_suffix(".service")
                assert service.read_bytes()[: now.written] == CONTENT[: now.written]
            finally:
                go.set()
                thread.join(HOLD_DEADLINE)
    assert done and done[0].exit_code == 0, done[0].output if done else "dfget did not end"
    assert out.read_bytes() == CONTENT
    assert flight_files(home) == []  # removed with the end of the download
    assert sn.registrations[0]["streamsPieces"] is True
    assert origin_app.hits == []


def test_a_piece_that_fails_its_md5_is_marked_failed_and_the_next_attempt_checks_out(
    dfget, tmp_path, origin, monkeypatch
):
    files, base, origin_app = origin
    files["big.bin"] = CONTENT
    calls: list = []
    for name in ("begin", "failed", "done"):
        real = getattr(flight.FlightWriter, name)

        def spy(self, num, *args, _real=real, _name=name):
            calls.append((_name, num))
            return _real(self, num, *args)

        monkeypatch.setattr(flight.FlightWriter, name, spy)
    pieces = piece_app(CONTENT, SIZE)
    with serve(pieces) as piece_port:
        sn = FakeSupernode(CONTENT, SIZE, piece_port)
        sn.source_for = lambda num, attempt: (
            ("peer-bad", "/bad") if num == 1 and attempt == 0 else ("peer-good", "/good")
        )
        with serve(sn.app()) as sn_port:
            out = tmp_path / "out" / "big.bin"
            result = dfget(
                "-u",
                f"{base}/big.bin",
                "-o",
                str(out),
                "-n",
                f"127.0.0.1:{sn_port}",
                "--md5",
                hashlib.md5(CONTENT).hexdigest(),
                services=Services(rng=random.Random(1), uploader=FakeUploader(port=15001)),
            )
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == CONTENT
    of_piece1 = [name for name, num in calls if num == 1]
    assert of_piece1 == ["begin", "failed", "begin", "done"]
    assert sorted(num for name, num in calls if name == "done") == [0, 1, 2]
    assert [(e["dstCid"], e["errorType"]) for e in sn.errors] == [("peer-bad", "FILE_MD5_NOT_MATCH")]


@pytest.mark.parametrize(
    "streams, pattern, registered",
    [(True, "p2p", True), (False, "p2p", False), (True, "cdn", False)],
)
def test_the_registration_says_streams_pieces_only_with_a_server_that_streams(
    dfget, tmp_path, origin, streams, pattern, registered
):
    files, base, origin_app = origin
    files["big.bin"] = CONTENT
    with serve(piece_app(CONTENT, SIZE)) as piece_port:
        sn = FakeSupernode(CONTENT, SIZE, piece_port)
        with serve(sn.app()) as sn_port:
            out = tmp_path / "out" / "big.bin"
            result = dfget(
                "-u",
                f"{base}/big.bin",
                "-o",
                str(out),
                "-n",
                f"127.0.0.1:{sn_port}",
                "-p",
                pattern,
                services=Services(rng=random.Random(1), uploader=FakeUploader(port=15001, streams_pieces=streams)),
            )
    assert result.exit_code == 0, result.output
    assert sn.registrations[0].get("streamsPieces", False) is registered


@pytest.fixture
def assembly(tmp_path):
    ctx = types.SimpleNamespace(
        service_file=str(tmp_path / "t-1-2.3.service"),
        client_file=str(tmp_path / "t-1-2.3"),
        flight_file=str(tmp_path / "t-1-2.3.flight"),
        temp_target=str(tmp_path / "dfget-1-2.3.tmp-x"),
        output=str(tmp_path / "out"),
    )
    open(ctx.temp_target, "wb").close()
    a = FileAssembly(ctx, p2p=True)
    a.open()
    yield a
    a.close()


def record(a: FileAssembly, num: int):
    reader = FlightReader.open(a.ctx.flight_file)
    assert reader is not None
    try:
        return reader.read(num)
    finally:
        reader.close()


def test_a_landing_writes_only_its_own_piece_in_order_and_only_while_its_generation_lives(assembly):
    payload = payload_size(SIZE)
    live = [True]
    landing = assembly.landing(1, SIZE, 3 * payload, lambda: live[0])
    assert landing.start(payload, payload)
    assert not landing.start(payload, payload + 1)  # an answer longer than the piece: not streamed
    assert record(assembly, 1).length == payload  # ... and the record is left as it was
    landing.chunk(0, b"a" * 1000)
    assert record(assembly, 1).written == 1000
    with pytest.raises(LandingAbandoned):
        landing.chunk(5000, b"b" * 10)  # out of order
    live[0] = False  # the download moved on (a new piece size, a cancel)
    with pytest.raises(LandingAbandoned) as gone:
        landing.chunk(1000, b"c" * 1000)
    assert gone.value.write_error is None
    with open(assembly.ctx.service_file, "rb") as f:
        assert f.read() == bytes(payload) + b"a" * 1000  # nothing after the generation ended
    landing.fail()
    assert record(assembly, 1).failed


def test_a_landing_on_a_closed_target_is_a_write_error(assembly):
    landing = assembly.landing(0, SIZE, -1, lambda: True)  # file length unknown: no early record
    assert record(assembly, 0).length == 0
    assert landing.start(0, 1000)
    assembly.close()
    with pytest.raises(LandingAbandoned) as closed:
        landing.chunk(0, b"x" * 10)
    assert isinstance(closed.value.write_error, OSError)
    assert not os.path.exists(assembly.ctx.flight_file)  # removed when the download ends
