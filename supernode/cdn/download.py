"""The download port (spec §8.6): GET/HEAD /download/<taskId[0:3]>/<taskId> with Range.

v1 ran nginx over `<home>/repo`; we serve the same paths from the supernode itself, but only the
data files of registered tasks (decisions 5): anything else is 404. A `Range: bytes=a-b` answers
206 with exactly those wrapped bytes, the end clipped to the file as it is now (the last piece is
shorter); no Range answers 200 with the whole file. The body is streamed from the file in chunks.
"""
import os
from typing import Callable, Iterator

from flask import Blueprint, Response, abort, request

from common.errors import RangeError, RangeNotSatisfiable
from common.pieces import parse_http_range
from supernode.cdn.store import valid_task_id

CHUNK = 256 * 1024


def _stream_file(path: str, start: int, length: int) -> Iterator[bytes]:
    with open(path, "rb") as f:
        f.seek(start)
        while length > 0:
            data = f.read(min(CHUNK, length))
            if not data:
                return
            length -= len(data)
            yield data


def download_blueprint(cdn, is_servable: Callable[[str, str], bool], name: str = "cdn_download") -> Blueprint:
    """`cdn` needs `path_of(task_id)`; `is_servable(task_id, client_ip)` says whether the task is
    registered (and, for a credentialed task, whether that host has a client admitted to it)."""
    bp = Blueprint(name, __name__)

    @bp.route("/download/<prefix>/<task_id>", methods=["GET", "HEAD"])
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
                start, end = parse_http_range(header, size)
            except RangeError:
                return Response(f"malformed Range header {header!r}\n", status=400, mimetype="text/plain")
            except RangeNotSatisfiable:
                return Response(status=416, headers={"Content-Range": f"bytes */{size}"})
            length, status = end - start + 1, 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(length)
        if request.method == "HEAD":
            return Response(status=status, headers=headers)
        return Response(_stream_file(path, start, length), status=status, headers=headers,
                        direct_passthrough=True)

    return bp
