"""The lean /peer/* path (supernode/api/lean_peer_routes.py) answers byte for byte as Flask does.

Two supernodes are built alike (same fake clock, seeded rng, in-memory CDN, fixed client keys):
one with the lean path in front of Flask, one with Flask alone. Every request goes to both, in
the same order, and the status line, the headers and the body must be identical, for a whole
v1-style and key-carrying pull loop and for every kind of bad input. The HTTP metrics must count
the same, and the lean path must really be the one answering.
"""

import random
import re

import pytest
from prometheus_client import generate_latest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from common.protocol.messages import HEADER_CLIENT_KEY
from common.shell.clock import FakeClock
from supernode import service as service_module
from supernode import settings
from supernode.api.lean_peer_routes import LeanPeerRoutes, query_of
from supernode.app import create_app
from tests.support.fake_cdn import FakeCdn

URL = "http://origin.test/file.bin"
CONTENT = random.Random(11).randbytes(5 * 1024 * 1024 + 33)
KEY = "k" * 32
OWNER, STRANGER = "127.0.0.1", "127.0.0.9"


class Pair:
    """The same requests to a lean and a Flask-only supernode; answers compared byte for byte."""

    def __init__(self):
        self.lean, self.flask = (
            create_app(
                settings.defaults(home_dir="/nonexistent"),
                cdn=FakeCdn({URL: CONTENT}),
                clock=FakeClock(),
                rng=random.Random(3),
                advertise_ip="127.0.0.1",
                lean_peer_routes=lean,
            )
            for lean in (True, False)
        )
        router = self.lean.wsgi_app.wsgi_app
        assert isinstance(router, LeanPeerRoutes)
        self.flask_calls = 0
        inner = router.app

        def counted(environ, start_response):
            self.flask_calls += 1
            return inner(environ, start_response)

        router.app = counted

    def send(
        self, path: str, query: str = "", *, method: str = "GET", addr: str = OWNER, headers=None, json=None
    ) -> "tuple[str, list, bytes]":
        answers = []
        for app in (self.lean, self.flask):
            environ = EnvironBuilder(path=path, method=method, headers=headers or {}, json=json).get_environ()
            environ["QUERY_STRING"] = query  # raw, as gunicorn hands it over (latin-1 text)
            environ["REMOTE_ADDR"] = addr
            app_iter, status, hdrs = run_wsgi_app(app, environ, buffered=True)
            answers.append((status, hdrs.to_wsgi_list(), b"".join(app_iter)))
        assert answers[0] == answers[1], f"{method} {path}?{query}: lean {answers[0]} != flask {answers[1]}"
        return answers[0]

    def send_json(self, path: str, query: str = "", **kw) -> dict:
        import json

        status, _, body = self.send(path, query, **kw)
        assert status == "200 OK"
        return json.loads(body) if body else {}


@pytest.fixture
def pair(monkeypatch):
    monkeypatch.setattr(service_module, "new_client_key", lambda: KEY)
    return Pair()


def _register(pair, cid: str, port: int) -> str:
    body = {
        "rawUrl": URL,
        "taskUrl": URL,
        "cid": cid,
        "ip": "127.0.0.1",
        "hostName": "h",
        "port": port,
        "path": f"/peer/file/f-{cid}",
        "version": "1.0.6",
    }
    answer = pair.send_json("/peer/registry", method="POST", json=body)
    assert answer["code"] == 200 and answer["data"]["clientKey"] == KEY
    return answer["data"]["taskId"]


def test_a_whole_pull_loop_answers_identically(pair):
    task_id = _register(pair, "127.0.0.1-1-1.000", 15001)
    _register(pair, "127.0.0.1-2-1.000", 15002)
    keyed = {HEADER_CLIENT_KEY: KEY}
    clients = {
        "127.0.0.1-1-1.000": {"headers": None, "reports": [], "started": False},  # v1: by address
        "127.0.0.1-2-1.000": {"headers": keyed, "reports": [], "started": False},
    }  # ours: by key
    finished, codes = set(), set()
    for _ in range(200):
        for cid, c in clients.items():
            if cid in finished:
                continue
            query = f"srcCid={cid}&taskId={task_id}&status={701 if c['started'] else 700}&result=502"
            if c["reports"]:
                rng_, dst = c["reports"].pop()
                query = f"srcCid={cid}&taskId={task_id}&dstCid={dst}&range={rng_}&result=503&status=701"
            answer = pair.send_json("/peer/task", query, headers=c["headers"])
            c["started"] = True
            codes.add(answer["code"])
            if answer["code"] == 600:
                finished.add(cid)
                pair.send_json(
                    "/peer/task", f"srcCid={cid}&taskId={task_id}&status=702&result=501", headers=c["headers"]
                )
                continue
            for piece in answer.get("data") or []:
                suc = f"taskId={task_id}&cid={cid}&dstCid={piece['cid']}&pieceRange={piece['range']}"
                assert pair.send_json("/peer/piece/suc", suc, headers=c["headers"]) == {"code": 611}
                c["reports"].append((piece["range"], piece["cid"]))
        if len(finished) == len(clients):
            break
    assert finished == set(clients) and 601 in codes
    assert pair.flask_calls == 2  # the two registrations; every /peer/* GET took the lean path


def test_bad_input_and_refusals_answer_identically(pair):
    task_id = _register(pair, "127.0.0.1-1-1.000", 15001)
    cid = "127.0.0.1-1-1.000"
    queries = {
        "/peer/task": [
            "",
            f"taskId={task_id}",
            f"srcCid={cid}&taskId={task_id}&status=999&result=502",
            f"srcCid={cid}&taskId={task_id}&status=x",
            f"srcCid={cid}&taskId=nope&status=700&result=502",
            f"SRCCID={cid}&TASKID={task_id}&status=700&result=502",  # keys in any case
            f"srcCid={cid}&srcCid=other&taskId={task_id}&status=700&result=502",  # repeated keys
            f"srcCid={cid}&taskId={task_id}&status=701&result=503&range=9-1",  # a bad range
            f"srcCid=%FF%FE&taskId={task_id}",  # invalid UTF-8, encoded
            f"srcCid={cid}&taskId={task_id}&wait=31",
            "srcCid=" + "x" * 9000,
            "a&&b=&=c",
            f"srcCid={cid}%0d%0aX: y&taskId={task_id}",  # control characters
        ],
        "/peer/piece/suc": ["", f"taskId={task_id}&cid={cid}&pieceRange=0-9", f"taskId={task_id}&cid=ghost"],
        "/peer/piece/error": ["", f"taskId={task_id}&range=0-1&dstCid=x&srcCid={cid}&errorType=FILE_NOT_EXIST"],
        "/peer/service/down": ["", f"taskId={task_id}&cid=ghost"],
    }
    for path, items in queries.items():
        for query in items:
            pair.send(path, query)
    down = f"taskId={task_id}&cid={cid}"
    assert pair.send_json("/peer/service/down", down, addr=STRANGER)["code"] == 501
    assert pair.send_json("/peer/service/down", down, headers={HEADER_CLIENT_KEY: "wrong"})["code"] == 501
    assert pair.send_json("/peer/service/down", down)["code"] == 612
    assert pair.flask_calls == 1


def test_raw_non_utf8_bytes_are_the_same_internal_error(pair):
    status, _, body = pair.send("/peer/task", "srcCid=\xff")
    assert status.startswith("500") and b"internal error" in body


def test_prefix_slash_method_and_other_paths_answer_identically(pair):
    task_id = _register(pair, "127.0.0.1-1-1.000", 15001)
    query = f"srcCid=127.0.0.1-1-1.000&taskId={task_id}&status=700&result=502"
    before = pair.flask_calls
    pair.send("/v1.0.6/peer/task", query)  # the version prefix: still the lean path
    assert pair.flask_calls == before
    for method, path in (
        ("GET", "/peer/task/"),
        ("HEAD", "/peer/task"),
        ("POST", "/peer/task"),
        ("GET", "/peer/piece"),
        ("GET", "/peer/registry"),
        ("POST", "/peer/network"),
    ):
        pair.send(path, query, method=method)
    assert pair.flask_calls == before + 6


def test_an_internal_failure_is_the_same_500(pair, monkeypatch):
    for app in (pair.lean, pair.flask):
        service = app.extensions["dragonfly"].service
        monkeypatch.setattr(service, "piece_success", lambda *a, **k: 1 / 0)
    status, headers, body = pair.send("/peer/piece/suc", "taskId=t&cid=c&dstCid=d&pieceRange=0-9")
    assert status == "500 INTERNAL SERVER ERROR" and b"ZeroDivisionError" in body


def test_http_metrics_count_the_same(pair):
    task_id = _register(pair, "127.0.0.1-1-1.000", 15001)
    pair.send("/peer/task", f"srcCid=127.0.0.1-1-1.000&taskId={task_id}&status=700&result=502")
    pair.send("/peer/piece/suc", "taskId=t&cid=c")
    pair.send("/peer/piece/error", "")

    def counts(app):
        text = generate_latest(app.extensions["dragonfly"].metrics.registry).decode()
        return sorted(
            line
            for line in text.splitlines()
            if re.match(
                r"dragonfly_supernode_http_(requests_total|request_size_bytes_(count|sum)|"
                r"response_size_bytes_(count|sum)|request_duration_seconds_count)\{",
                line,
            )
        )

    lean = counts(pair.lean)
    assert lean == counts(pair.flask)
    assert any(
        'handler="/peer/task"' in line and line.startswith("dragonfly_supernode_http_requests_total") for line in lean
    )


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "a=1&b=2",
        "a=1&a=2",
        "x",
        "=",
        "&&",
        "a=%zz",
        "a=%FF%00",
        "a=b+c",
        "k%3D=v%26",
        "a=\u00e9",
        "a=1;b=2",
        "a==b",
    ],
)
def test_query_parsing_is_werkzeugs(raw):
    from werkzeug.wrappers import Request

    environ = EnvironBuilder(path="/peer/task").get_environ()
    environ["QUERY_STRING"] = raw.encode("utf-8").decode("latin1")
    assert list(query_of(environ).items(multi=True)) == list(Request(environ).args.items(multi=True))
