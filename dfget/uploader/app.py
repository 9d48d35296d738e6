"""The peer upload server's HTTP endpoints (docs/protocol.md#peer-upload-server): parse -> ask policy/state -> answer.

Files are only ever opened as `<data dir>/<one safe path component>.service`, with O_NOFOLLOW,
and only for tasks the server knows (registered by /check or /client/finish), from the data
directory the task was registered with. Unknown tasks and missing files answer 404 (docs/decisions.md #5),
never 500.

Pieces are open to every host. The control endpoints (/check, /rate, /client/finish: they set
the host's upload limit, name data directories and the supernode the server calls later) are
honoured only from this host, and never from a web browser (issue 11 items 1 and 9): 403.
"""

import errno
import logging
import os
import stat
import time
from dataclasses import dataclass

from flask import Flask, Response, request

from common.dfget_files import flight_file_name, service_file_name
from common.errors import BadInput, RangeNotSatisfiable
from common.flight import IDLE, Flight
from common.pieces import META_SIZE, TAIL, frame_header
from common.protocol import paths
from common.protocol.messages import (
    HEADER_CDN_SOURCE,
    HEADER_CLIENT_KEY,
    HEADER_DATA_DIR,
    HEADER_PIECE_NUM,
    HEADER_PIECE_SIZE,
    HEADER_RATE_LIMIT,
    HEADER_STREAMS_PIECES,
    HEADER_TOTAL_LIMIT,
    ClientFinishRequest,
)
from common.shell.flight import FlightReader
from common.version import VERSION
from dfget.uploader.core import policy
from dfget.uploader.state import StateFull, UploadState

log = logging.getLogger(__name__)

EXTENSION = "dfget_uploader"
HEADER_DATA_DIR_ID = "X-Dfget-Data-Dir-Id"
CHUNK_SIZE = 256 * 1024
MIN_CHUNK_SIZE = 16 * 1024  # under a low --totallimit a chunk is ~1 s of traffic, not 256 KiB
MAX_THROTTLE_WAIT = 30.0  # s: a limit that asks for a longer pause per chunk is no upload
UPLOAD_GRACE = 60.0  # s: every piece may take this long, plus its length at ...
MIN_UPLOAD_RATE = 16 * 1024  # ... this rate; then it is cut (a peer that stopped reading)
MAX_DATA_DIR_LENGTH = 4096
FLIGHT_POLL = 0.005  # s between looks at a piece in flight that has nothing new to send
FLIGHT_STALL = 15.0  # s a piece in flight may bring nothing new before its stream is cut
# s a request for a piece the running download holds nothing of waits for dfget to begin it: the
# supernode may name this peer as the piece's source a moment before its worker starts the fetch
FLIGHT_START = 2.0
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


@dataclass
class InFlight:
    """A requested piece that dfget is still writing (docs/decisions.md #25): the flight file's
    reader, the piece, its plan and the record the plan was made from."""

    reader: FlightReader
    piece_num: int
    plan: policy.PiecePlan
    started: Flight


class UploadAborted(ConnectionAbortedError):
    """The server cuts this upload: it stalled, the limit would hold it too long, or we stop.
    A ConnectionError, so the WSGI server treats it as a dropped connection and closes it."""


class PieceBody:
    """The 206 body: frame header, payload read from the open file, trailer; throttled.

    Owns the file descriptor and the state's active-upload count; `close()` (called by the WSGI
    server, even when the body was never iterated) releases both exactly once. Every chunk sent
    counts as activity; a piece that outlives its deadline, or a throttling pause longer than
    MAX_THROTTLE_WAIT, ends the upload. `sleep(seconds)` returns True when the server is stopping.

    A piece in flight (`flight`, docs/decisions.md #25) is sent as dfget writes it: the payload goes out
    up to what the record says is written, and the body waits FLIGHT_POLL at a time for more.
    The attempt failing (or another attempt starting over the bytes already sent), or
    FLIGHT_STALL seconds without progress, cuts the connection; the record cleared (the piece
    checked out) or the flight file removed (the download ended) leaves the service file to
    answer for the rest.
    """

    def __init__(
        self,
        fd: int,
        plan: policy.PiecePlan,
        state: UploadState,
        sleep,
        chunk_size: int,
        flight: "InFlight | None" = None,
    ):
        self._fd, self._plan, self._state, self._sleep = fd, plan, state, sleep
        limit = state.total_limit
        self._chunk = min(chunk_size, max(limit, MIN_CHUNK_SIZE)) if limit > 0 else chunk_size
        self._deadline = state.clock.monotonic() + UPLOAD_GRACE + plan.length / MIN_UPLOAD_RATE
        self._flight = flight
        self._closed = False
        state.upload_started()

    def _throttled(self, data: bytes) -> bytes:
        state = self._state
        if state.clock.monotonic() > self._deadline:
            raise UploadAborted("upload took longer than its deadline")
        wait = state.reserve_upload(len(data))
        if wait > MAX_THROTTLE_WAIT:
            state.refund_upload(len(data))
            raise UploadAborted(f"the upload limit would pause this upload {wait:.0f}s")
        if wait > 0 and self._sleep(wait):
            state.refund_upload(len(data))
            raise UploadAborted("the upload server is stopping")
        state.upload_progressed()
        return data

    def _written_until(self, end: int) -> int:
        """The service-file offset up to which bytes may be sent now (`end`: all of them)."""
        if self._flight is None:
            return end
        flight = self._flight
        now = flight.reader.read(flight.piece_num)
        if now.length == 0 or flight.reader.removed:  # checked out, or the download ended: the file answers
            self._flight = None
            return end
        if now.failed or now.attempt != flight.started.attempt:
            raise UploadAborted(f"piece {flight.piece_num} failed while it was streamed")
        return end if now.written >= now.length else now.offset + now.written

    def _wait_written(self, offset: int, end: int) -> int:
        """Wait until bytes past `offset` may be sent; the offset they may be sent up to."""
        stalled_at = self._state.clock.monotonic()
        while (ready := self._written_until(end)) <= offset:
            if self._state.clock.monotonic() - stalled_at > FLIGHT_STALL:
                raise UploadAborted(f"piece in flight brought nothing new for {FLIGHT_STALL:.0f}s")
            if self._sleep(FLIGHT_POLL):
                raise UploadAborted("the upload server is stopping")
        return ready

    def __iter__(self):
        plan = self._plan
        if plan.framed:
            yield frame_header(plan.payload_length, plan.piece_size)
        offset, end = plan.offset, plan.offset + plan.payload_length
        ready = end if self._flight is None else offset
        while offset < end:
            if ready <= offset:
                ready = self._wait_written(offset, end)
            data = os.pread(self._fd, min(self._chunk, ready - offset, end - offset), offset)
            if not data:
                raise OSError(errno.EIO, f"service file shrank while serving offset {offset}")
            offset += len(data)
            yield self._throttled(data)
        if plan.framed:
            yield bytes((TAIL,))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self._fd)
            if self._flight is not None:
                self._flight.reader.close()
            self._state.upload_ended()


def _open_service_file(state: UploadState, name: str) -> "tuple[int, int] | Response":
    """(fd, size) of a known task's service file, or the error response."""
    task = state.get(name)
    if task is None:
        return _text(f"unknown task file {name}", 404)
    path = os.path.join(task.data_dir, service_file_name(name))
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        return _text(f"file not found: {name}", 404)
    except PermissionError:
        return _text(f"permission denied: {name}", 403)
    except OSError as e:
        if e.errno == errno.ELOOP:  # a symlink: never followed out of the data dir
            return _text(f"file not found: {name}", 404)
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return _text(f"file not found: {name}", 404)
    return fd, info.st_size


def _piece_in_flight(
    state: UploadState, name: str, req: policy.PieceRequest, fd: int, size: int, sleep
) -> "InFlight | None":
    """The requested piece when it is still arriving (docs/decisions.md #25); None when the
    service file alone answers (the reader is closed; the caller plans against the file's size
    as it is now). While the task's download runs, a piece the file does not hold waits up to
    FLIGHT_START for its fetch to begin."""
    task = state.get(name)
    if task is None or not req.framed:
        return None
    reader = FlightReader.open(os.path.join(task.data_dir, flight_file_name(name)))
    if reader is None:
        return None
    try:
        found = reader.read(req.piece_num)
        if found.length == 0 and not _holds_piece(fd, size, req):
            found, size = _await_start(reader, req, fd, state.clock, sleep)
        # a failed record too: its bytes are bad, and the body cuts at its first look
        plan = policy.plan_piece_in_flight(size, req, found.offset, found.length)
    except (OSError, RangeNotSatisfiable):
        plan = None
    if plan is None:
        reader.close()
        return None
    return InFlight(reader, req.piece_num, plan, found)


def _holds_piece(fd: int, size: int, req: policy.PieceRequest) -> bool:
    """Does the service file hold every byte of the requested piece (no hole, not past its end)?
    True when the filesystem cannot tell: the file answers, as it always did."""
    offset = req.start - req.piece_num * META_SIZE
    if offset >= size:
        return False
    try:
        return os.lseek(fd, offset, os.SEEK_HOLE) >= min(offset + req.length - META_SIZE, size)
    except OSError:
        return True


def _await_start(reader: FlightReader, req: policy.PieceRequest, fd: int, clock, sleep) -> "tuple[Flight, int]":
    """(the piece's record once its fetch begins, the file's size then); IDLE if the file holds
    the piece by then (it came and went between two looks), or nothing began within
    FLIGHT_START, or the download ended, or the server stops."""
    deadline = clock.monotonic() + FLIGHT_START
    while clock.monotonic() < deadline and not reader.removed:
        if sleep(FLIGHT_POLL):
            break
        found = reader.read(req.piece_num)
        size = os.fstat(fd).st_size
        if found.length or _holds_piece(fd, size, req):
            return found, size
    return IDLE, os.fstat(fd).st_size


def _connection_local_address() -> str:
    """The address this request's connection arrived on ('' when unknown, e.g. in tests)."""
    sock = request.environ.get("werkzeug.socket")
    try:
        return sock.getsockname()[0] if sock is not None else ""
    except (OSError, AttributeError, IndexError, TypeError):
        return ""


def _refuse_unless_local() -> "Response | None":
    """403 for a control request from another host or from a web browser on this one."""
    if not policy.is_local_request(request.remote_addr or "", _connection_local_address()):
        log.warning(
            "refused %s from %s: control requests are honoured only from this host", request.path, request.remote_addr
        )
        return _text("control requests are honoured only from this host", 403)
    if any(h in request.headers for h in policy.BROWSER_HEADERS) or not policy.is_address_host(request.host):
        log.warning("refused %s from a web browser (Origin %r)", request.path, request.headers.get("Origin"))
        return _text("control requests are honoured only from this host, never from a web browser", 403)
    return None


def _requested_data_dir(state: UploadState) -> str:
    """The real path of the `dataDir` header (ours when absent); BadInput unless it names an
    existing directory by an absolute path."""
    text = request.headers.get(HEADER_DATA_DIR) or ""
    if not text.strip():
        return state.data_dir
    if len(text) > MAX_DATA_DIR_LENGTH or "\x00" in text or not os.path.isabs(text):
        raise BadInput("invalid dataDir: an absolute path is required")
    real = os.path.realpath(text)
    if not os.path.isdir(real):
        raise BadInput(f"invalid dataDir {text!r}: no such directory")
    return real


def create_upload_app(state: UploadState, *, sleep=time.sleep, chunk_size: int = CHUNK_SIZE) -> Flask:
    """The upload server's WSGI app over `state`; `sleep` does the throttling waits (and
    returns True when they were cut short because the server stops)."""
    app = Flask(__name__)
    app.extensions[EXTENSION] = state
    app.url_map.merge_slashes = False  # "/peer/file//x" is no task name, not a redirect
    dir_id = policy.data_dir_id(state.data_dir)

    @app.errorhandler(BadInput)
    def bad_input(e: BadInput):
        return _text(str(e), 503 if isinstance(e, StateFull) else 400)

    control = {paths.UPLOAD_RATE, paths.UPLOAD_CHECK, paths.UPLOAD_CLIENT_FINISH}

    @app.before_request
    def control_only_from_this_host():
        if request.url_rule is not None and request.url_rule.rule in control:
            return _refuse_unless_local()
        return None

    @app.get(paths.UPLOAD_FILE)
    def upload_piece(task_file_name: str):
        name = policy.check_task_file_name(task_file_name)
        h = request.headers
        req = policy.parse_piece_request(
            h.get("Range"), h.get(HEADER_PIECE_NUM), h.get(HEADER_PIECE_SIZE), h.get(HEADER_CDN_SOURCE)
        )
        opened = _open_service_file(state, name)
        if isinstance(opened, Response):
            log.warning("upload %s: %s", name, opened.get_data(as_text=True))
            return opened
        fd, size = opened
        state.touch()  # a piece of a task we serve: activity (probes for unknown files are not)
        flight = _piece_in_flight(state, name, req, fd, size, sleep)
        if flight is None:
            size = os.fstat(fd).st_size  # it may have grown while a piece was awaited
        try:
            plan = flight.plan if flight is not None else policy.plan_piece(size, req)
        except RangeNotSatisfiable as e:
            os.close(fd)
            return _text(str(e), 416)
        state.accessed(name)
        log.debug("upload task=%s piece=%d offset=%d length=%d", name, req.piece_num, plan.offset, plan.length)
        body = PieceBody(fd, plan, state, sleep, chunk_size, flight)
        resp = Response(body, status=206, mimetype="application/octet-stream", direct_passthrough=True)
        resp.headers["Content-Length"] = str(plan.length)
        return resp

    @app.get(paths.UPLOAD_RATE)
    def rate(task_file_name: str):
        state.touch()
        name = policy.check_task_file_name(task_file_name)
        wanted = policy.parse_int_header(HEADER_RATE_LIMIT, request.headers.get(HEADER_RATE_LIMIT))
        return _text(str(state.share_rate(name, wanted)))

    @app.get(paths.UPLOAD_CHECK)
    def check(task_file_name: str):
        state.touch()
        name = policy.check_task_file_name(task_file_name)
        data_dir = _requested_data_dir(state)  # any home on this host (v1: one server per host)
        state.register(name, data_dir)
        limit = (request.headers.get(HEADER_TOTAL_LIMIT) or "").strip()
        if limit.isdigit():
            state.configure_total_limit(int(limit))
        resp = _text(f"{name}@{VERSION}")
        resp.headers[HEADER_STREAMS_PIECES] = "1"
        return resp

    @app.get(paths.UPLOAD_CLIENT_FINISH)
    def client_finish():
        try:
            req = ClientFinishRequest.decode(request.args, from_strings=True)
            name = policy.check_task_file_name(req.task_file_name)
            if req.super_node:  # called back at expiry: host[:port], never a URL (item 9)
                policy.parse_super_node(req.super_node)
        except BadInput:
            return _text("invalid params", 400)
        state.finish(name, req.task_id, req.cid, req.super_node, (request.headers.get(HEADER_CLIENT_KEY) or "").strip())
        log.info("client finish task=%s taskID=%s cid=%s superNode=%s", name, req.task_id, req.cid, req.super_node)
        return _text("success")

    @app.get(paths.UPLOAD_PING)
    def ping():
        resp = _text("success")
        resp.headers[HEADER_DATA_DIR_ID] = dir_id
        resp.headers[HEADER_STREAMS_PIECES] = "1"
        return resp

    return app
