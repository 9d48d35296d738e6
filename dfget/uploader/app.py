"""The peer upload server's HTTP endpoints (spec §7.2): parse -> ask policy/state -> answer.

Files are only ever opened as `<data dir>/<one safe path component>.service`, with O_NOFOLLOW,
and only for tasks the server knows (registered by /check or /client/finish). Unknown tasks and
missing files answer 404 (decisions 5), never 500.
"""
import errno
import logging
import os
import stat
import time

from flask import Flask, Response, request

from common.errors import BadInput, RangeNotSatisfiable
from common.pieces import TAIL, frame_header
from common.protocol import paths
from common.protocol.messages import (HEADER_CDN_SOURCE, HEADER_CLIENT_KEY, HEADER_DATA_DIR, HEADER_PIECE_NUM,
                                      HEADER_PIECE_SIZE, HEADER_RATE_LIMIT, HEADER_TOTAL_LIMIT,
                                      ClientFinishRequest)
from common.version import VERSION
from dfget.uploader import policy
from dfget.uploader.state import UploadState

log = logging.getLogger(__name__)

EXTENSION = "dfget_uploader"
HEADER_DATA_DIR_ID = "X-Dfget-Data-Dir-Id"
CHUNK_SIZE = 256 * 1024
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


class PieceBody:
    """The 206 body: frame header, payload read from the open file, trailer; throttled.

    Owns the file descriptor and the state's active-upload count; `close()` (called by the WSGI
    server, even when the body was never iterated) releases both exactly once.
    """

    def __init__(self, fd: int, plan: policy.PiecePlan, state: UploadState, sleep, chunk_size: int):
        self._fd, self._plan, self._state, self._sleep, self._chunk = fd, plan, state, sleep, chunk_size
        self._closed = False
        state.upload_started()

    def _throttled(self, data: bytes) -> bytes:
        wait = self._state.reserve_upload(len(data))
        if wait > 0:
            self._sleep(wait)
        return data

    def __iter__(self):
        plan = self._plan
        if plan.framed:
            yield frame_header(plan.payload_length, plan.piece_size)
        offset, remaining = plan.offset, plan.payload_length
        while remaining > 0:
            data = os.pread(self._fd, min(self._chunk, remaining), offset)
            if not data:
                raise OSError(errno.EIO, f"service file shrank while serving offset {offset}")
            offset += len(data)
            remaining -= len(data)
            yield self._throttled(data)
        if plan.framed:
            yield bytes((TAIL,))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self._fd)
            self._state.upload_ended()


def _open_service_file(state: UploadState, name: str) -> "tuple[int, int] | Response":
    """(fd, size) of a known task's service file, or the error response."""
    if state.get(name) is None:
        return _text(f"unknown task file {name}", 404)
    path = os.path.join(state.data_dir, policy.service_file_name(name))
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


def create_upload_app(state: UploadState, *, sleep=time.sleep, chunk_size: int = CHUNK_SIZE) -> Flask:
    """The upload server's WSGI app over `state`; `sleep` does the throttling waits."""
    app = Flask(__name__)
    app.extensions[EXTENSION] = state
    app.url_map.merge_slashes = False   # "/peer/file//x" is no task name, not a redirect
    dir_id = policy.data_dir_id(state.data_dir)

    @app.errorhandler(BadInput)
    def bad_input(e: BadInput):
        return _text(str(e), 400)

    @app.get(paths.UPLOAD_FILE)
    def upload_piece(task_file_name: str):
        state.touch()
        name = policy.check_task_file_name(task_file_name)
        h = request.headers
        req = policy.parse_piece_request(h.get("Range"), h.get(HEADER_PIECE_NUM),
                                         h.get(HEADER_PIECE_SIZE), h.get(HEADER_CDN_SOURCE))
        opened = _open_service_file(state, name)
        if isinstance(opened, Response):
            log.warning("upload %s: %s", name, opened.get_data(as_text=True))
            return opened
        fd, size = opened
        try:
            plan = policy.plan_piece(size, req)
        except RangeNotSatisfiable as e:
            os.close(fd)
            return _text(str(e), 416)
        state.accessed(name)
        log.debug("upload task=%s piece=%d offset=%d length=%d", name, req.piece_num, plan.offset, plan.length)
        body = PieceBody(fd, plan, state, sleep, chunk_size)
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
        data_dir = (request.headers.get(HEADER_DATA_DIR) or "").strip()
        if data_dir and os.path.realpath(data_dir) != state.data_dir:
            # Another home's dfget: it must start its own server (we never serve its directory).
            return _text(f"this server serves another data directory than {data_dir}", 409)
        limit = (request.headers.get(HEADER_TOTAL_LIMIT) or "").strip()
        if limit.isdigit():
            state.configure_total_limit(int(limit))
        state.register(name)
        return _text(f"{name}@{VERSION}")

    @app.get(paths.UPLOAD_CLIENT_FINISH)
    def client_finish():
        try:
            req = ClientFinishRequest.decode(request.args, from_strings=True)
            name = policy.check_task_file_name(req.task_file_name)
        except BadInput:
            return _text("invalid params", 400)
        state.finish(name, req.task_id, req.cid, req.super_node, (request.headers.get(HEADER_CLIENT_KEY) or "").strip())
        log.info("client finish task=%s taskID=%s cid=%s superNode=%s", name, req.task_id, req.cid, req.super_node)
        return _text("success")

    @app.get(paths.UPLOAD_PING)
    def ping():
        resp = _text("success")
        resp.headers[HEADER_DATA_DIR_ID] = dir_id
        return resp

    return app
