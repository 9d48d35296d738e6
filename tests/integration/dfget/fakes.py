"""In-process stand-ins for a supernode, piece servers and an origin, all on 127.0.0.1:0."""

import hashlib
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server

from common.pieces import frame, payload_size, piece_range
from tests.support.procs import wait_until

HOLD_DEADLINE = 60.0  # s: a held piece's condition that never comes true is a test failure

TASK_ID = "f" * 64


@contextmanager
def serve(app):
    """Run a WSGI app on 127.0.0.1:<free port> in a thread; yields the port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(5)


def split(content: bytes, size: int) -> "list[bytes]":
    step = payload_size(size)
    return [content[i : i + step] for i in range(0, len(content), step)] or [b""]


def piece_app(content: bytes, size: int, corrupt_paths=("/bad",)) -> Flask:
    """Serves framed pieces at /good/<name> and, corrupted, at /bad/<name>; /gone/<name> is 404.
    `app.hold` maps a piece number to a condition its answer waits for (deadline-bounded), e.g.
    "every other piece is done", so that later pieces land first whatever the machine's load."""
    app = Flask("pieces")
    pieces = split(content, size)
    app.hits = []
    app.hold = {}

    @app.route("/<kind>/<name>")
    def piece(kind, name):
        num = int(request.headers["pieceNum"])
        app.hits.append((kind, num, request.headers.get("Range"), request.headers.get("User-Agent")))
        if kind == "gone":
            return Response("no such file", status=404)
        if num in app.hold:
            wait_until(app.hold[num], HOLD_DEADLINE, f"the condition that releases piece {num}")
        body = bytearray(frame(pieces[num], size))
        if "/" + kind in corrupt_paths:
            body[len(body) // 2] ^= 0xFF
        return Response(bytes(body), status=206, mimetype="application/octet-stream")

    return app


@dataclass
class FakeSupernode:
    """A scripted supernode: hands out every piece, from `source_for(num, attempt)`, then 600."""

    content: bytes
    piece_size: int
    piece_port: int
    source_for: object = None  # (piece_num, attempt) -> (cid, path prefix)
    final_md5: "str | None" = None  # md5 announced in the 600 answer (default: the real one)
    limit: int = 4
    cdn_source: str = "supernode"  # "source": raw ranges straight from `source_url`
    source_url: str = ""
    answer: "dict | None" = None  # a fixed answer to every /peer/task (e.g. 500, or 602 forever)
    forget_after: int = 0  # a restart in place: once this many pieces are done, all is
    # forgotten and pulls get 502 "unknown task" until a new registration
    client_key: str = ""  # a supernode of ours answers registrations with a client key
    calls: list = field(default_factory=list)
    sucs: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    metrics: list = field(default_factory=list)
    registrations: list = field(default_factory=list)

    def __post_init__(self):
        step = self.piece_size if self.cdn_source == "source" else payload_size(self.piece_size)
        self.pieces = [self.content[i : i + step] for i in range(0, len(self.content), step)] or [b""]
        self.done: set[int] = set()
        self.running: set[int] = set()
        self.attempts: dict[int, int] = {}
        self.lock = threading.Lock()
        self.forgotten = self.lost = False

    def _raw_task(self, num: int) -> dict:
        start = num * self.piece_size
        return {
            "range": f"{start}-{start + self.piece_size - 1}",
            "pieceNum": num,
            "pieceSize": self.piece_size,
            "pieceMd5": "",
            "cid": "cdnnode:127.0.0.1~" + TASK_ID,
            "peerIp": "",
            "peerPort": 0,
            "path": self.source_url,
        }

    def _task(self, num: int) -> dict:
        if self.cdn_source == "source":
            return self._raw_task(num)
        attempt = self.attempts.get(num, 0)
        cid, prefix = (self.source_for or (lambda n, a: ("cdnnode:127.0.0.1~" + TASK_ID, "/good")))(num, attempt)
        body = frame(self.pieces[num], self.piece_size)
        start, end = piece_range(num, self.piece_size)
        return {
            "range": f"{start}-{end}",
            "pieceNum": num,
            "pieceSize": self.piece_size,
            "pieceMd5": f"{hashlib.md5(body).hexdigest()}:{len(body)}",
            "cid": cid,
            "peerIp": "127.0.0.1",
            "peerPort": self.piece_port,
            "path": f"{prefix}/{TASK_ID}",
        }

    def _pull(self, q) -> dict:
        if self.answer is not None:
            return self.answer
        if self.forget_after and len(self.done) >= self.forget_after and not self.forgotten:
            self.forgotten, self.lost = True, True
            self.done, self.running = set(), set()
        if self.lost:
            return {"code": 502, "msg": f"unknown task {q.get('taskId')} or client {q.get('srcCid')}"}
        rng, result = q.get("range", ""), q.get("result", "")
        if rng:
            num = int(rng.split("-")[0]) // self.piece_size
            self.running.discard(num)
            if result == "503":
                self.done.add(num)
            elif result == "500":
                self.attempts[num] = self.attempts.get(num, 0) + 1
        if len(self.done) == len(self.pieces):
            md5 = self.final_md5 if self.final_md5 is not None else hashlib.md5(self.content).hexdigest()
            return {"code": 600, "data": {"md5": md5, "fileLength": len(self.content) + 5 * len(self.pieces)}}
        free = [n for n in range(len(self.pieces)) if n not in self.done and n not in self.running]
        take = free[: max(self.limit - len(self.running), 0)]
        if not take:
            return {"code": 602, "msg": "peer task wait"}
        self.running.update(take)
        return {"code": 601, "data": [self._task(n) for n in take]}

    def app(self) -> Flask:
        app = Flask("supernode")

        @app.post("/peer/registry")
        def registry():
            self.registrations.append(request.get_json())
            self.lost = False
            return jsonify(
                {
                    "code": 200,
                    "msg": "success",
                    "data": {
                        "taskId": TASK_ID,
                        "fileLength": len(self.content),
                        "pieceSize": self.piece_size,
                        "cdnSource": self.cdn_source,
                        **({"clientKey": self.client_key} if self.client_key else {}),
                    },
                }
            )

        @app.get("/peer/task")
        def task():
            q = request.args.to_dict()
            with self.lock:
                self.calls.append(q)
                return jsonify(self._pull(q))

        @app.get("/peer/piece/suc")
        def suc():
            q = request.args.to_dict()
            with self.lock:
                self.sucs.append(q)
                num = int(q["pieceRange"].split("-")[0]) // self.piece_size
                self.running.discard(num)
                self.done.add(num)
            return jsonify({"code": 611})

        @app.get("/peer/piece/error")
        def error():
            self.errors.append(request.args.to_dict())
            return Response("", status=200)

        @app.post("/task/metrics")
        def metrics():
            self.metrics.append(request.get_json())
            return jsonify({"code": 200})

        return app


def origin_app(files: "dict[str, bytes]") -> Flask:
    app = Flask("origin")
    app.hits = []

    @app.route("/<name>")
    def get(name):
        app.hits.append(name)
        if name not in files:
            return Response("not found", status=404)
        resp = Response(files[name], mimetype="application/octet-stream")
        return resp.make_conditional(request, accept_ranges=True, complete_length=len(files[name]))

    return app


class FakeUploader:
    """Stands in for the peer upload server: a port, and a record of what dfget told it."""

    def __init__(self, port: int = 15001, fail: bool = False, streams_pieces: bool = False):
        self.port, self.fail, self.streams_pieces = port, fail, streams_pieces
        self.finished, self.rates = [], []

    def start(self, cfg, ctx, on_failure=None) -> int:
        if self.fail:
            from dfget.errors import LaunchServerError

            raise LaunchServerError("no server here")
        return self.port

    def finish(self, ctx) -> None:
        self.finished.append((ctx.task_file_name, ctx.task_id, ctx.cid, ctx.node.addr))

    def rate(self, ctx, rate: int):
        self.rates.append(rate)
        return rate
