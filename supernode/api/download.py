"""The download port (docs/protocol.md#download-port-downloadport-8001): GET/HEAD /download/<taskId[0:3]>/<taskId> with
Range.

v1 ran nginx over `<home>/repo`; we serve the same paths from the supernode itself, but only the
data files of registered tasks (docs/decisions.md #5): anything else is 404. A `Range: bytes=a-b` answers
206 with exactly those wrapped bytes, the end clipped to the file as it is now (the last piece is
shorter); no Range answers 200 with the whole file.

The body goes out with `os.sendfile` (zero copy) when we run under gunicorn on a plain-TCP
socket: the first (empty) chunk makes gunicorn send the status line and headers, then the bytes
go from the page cache straight to the socket, cooperatively under gevent (a full socket buffer
parks the greenlet, not the worker). gunicorn's own sendfile path cannot be used: under gevent it
degrades to 8 KiB read()+send() rounds. Anywhere else (tests, other servers) the file is streamed
in 1 MiB chunks.
"""

import os
import select
from collections.abc import Callable, Iterator

from flask import Blueprint, Response, abort, request

from common.errors import RangeError, RangeNotSatisfiable
from common.http_range import resolve_range
from common.protocol import paths
from supernode.cdn.store import valid_task_id

CHUNK = 1 << 20
SENDFILE_STEP = 8 << 20
SEND_TIMEOUT = 120.0  # s without any progress on a full socket buffer: give the connection up


def _stream_file(path: str, start: int, length: int) -> Iterator[bytes]:
    with open(path, "rb") as f:
        f.seek(start)
        while length > 0:
            data = f.read(min(CHUNK, length))
            if not data:
                return
            length -= len(data)
            yield data


def _wait_writable(fd: int) -> None:
    try:
        from gevent.monkey import is_module_patched

        cooperative = is_module_patched("socket")
    except ImportError:
        cooperative = False
    if cooperative:
        from gevent.socket import wait_write

        wait_write(fd, timeout=SEND_TIMEOUT, timeout_exc=TimeoutError("send timed out"))
    elif not select.select([], [fd], [], SEND_TIMEOUT)[1]:
        raise TimeoutError("send timed out")


def _sendfile_socket(environ) -> "int | None":
    """The client socket's fd if the body may be written to it directly (gunicorn, plain TCP)."""
    sock = environ.get("gunicorn.socket")
    if sock is None or environ.get("wsgi.url_scheme") != "http" or hasattr(sock, "cipher"):
        return None
    try:
        return sock.fileno()
    except (OSError, AttributeError):
        return None


def _sendfile_body(out: int, f, start: int, length: int) -> Iterator[bytes]:
    """Yield b"" (gunicorn then sends the headers), then sendfile exactly `length` bytes.

    A file that ends early raises: Content-Length is promised, so the connection must close."""
    try:
        yield b""
        fd, offset, end = f.fileno(), start, start + length
        while offset < end:
            try:
                n = os.sendfile(out, fd, offset, min(end - offset, SENDFILE_STEP))
            except BlockingIOError:
                _wait_writable(out)
                continue
            if n == 0:
                raise OSError(f"file ended {end - offset} bytes before the promised length")
            offset += n
    finally:
        f.close()


def download_blueprint(cdn, is_servable: Callable[[str, str], bool], name: str = "cdn_download") -> Blueprint:
    """`cdn` needs `path_of(task_id)`; `is_servable(task_id, client_ip)` says whether the task is
    registered (and, for a credentialed task, whether that host has a client admitted to it)."""
    bp = Blueprint(name, __name__)

    @bp.route(paths.DOWNLOAD_ROUTE, methods=["GET", "HEAD"])
    def download(prefix: str, task_id: str):
        if not valid_task_id(task_id) or prefix != task_id[:3] or not is_servable(task_id, request.remote_addr or ""):
            abort(404)
        path = cdn.path_of(task_id)
        try:
            size = os.stat(path).st_size
        except OSError:
            abort(404)
        headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        header = request.headers.get("Range")
        if header is None:
            start, length, status = 0, size, 200
        else:
            try:
                start, end = resolve_range(header, size)
            except RangeError:
                return Response(f"malformed Range header {header!r}\n", status=400, mimetype="text/plain")
            except RangeNotSatisfiable:
                return Response(status=416, headers={"Content-Range": f"bytes */{size}"})
            length, status = end - start + 1, 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(length)
        if request.method == "HEAD":
            return Response(status=status, headers=headers)
        out = _sendfile_socket(request.environ) if length > 0 else None
        if out is not None:
            try:
                f = open(path, "rb")  # noqa: SIM115 - the response body closes it when sent
            except OSError:
                abort(404)
            return Response(
                _sendfile_body(out, f, start, length), status=status, headers=headers, direct_passthrough=True
            )
        return Response(_stream_file(path, start, length), status=status, headers=headers, direct_passthrough=True)

    return bp
