"""The lean path of the hot /peer/* calls (docs/architecture.md#a-pull-get-peertask): a plain
WSGI dispatch in front of the Flask API app, inside the same gunicorn gevent worker.

A v1 client sends one `/peer/task` and one `/peer/piece/suc` per piece, so these calls are
nearly all of a supernode's traffic, and Flask's per-request machinery (request and app
contexts, URL matching, before/after hooks, the session, a Response object) cost about as much
as the pull itself. This path serves exactly `GET` of the four paths in `peer_calls.GET_CALLS`
with the same calls, the same caller identity (address + client key), the same answer bytes and
headers and the same HTTP metrics; every other request (another path or method, a trailing
slash) goes to Flask unchanged. The integration test test_lean_peer_routes.py sends the same
requests both ways and compares the answers byte for byte.
"""

import logging
import time
from urllib.parse import parse_qsl

import werkzeug.urls  # noqa: F401 - registers the "werkzeug.url_quote" codec error handler query_of uses
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.wsgi import get_content_length

from supernode.api import peer_calls
from supernode.api.http_metrics import HttpMetrics
from supernode.api.responses import internal_error, json_text

log = logging.getLogger(__name__)

_STATUS_LINES = {200: "200 OK", 500: "500 INTERNAL SERVER ERROR"}  # werkzeug's spelling
_EMPTY_OK = (b"", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "0")])  # Flask's ("", 200)


def query_of(environ) -> ImmutableMultiDict:
    """The query string parsed exactly as werkzeug's `request.args` does (invalid UTF-8 stays
    percent-encoded; a raw non-UTF-8 byte is an error, as it is there)."""
    raw = environ.get("QUERY_STRING", "").encode("latin1").decode()
    return ImmutableMultiDict(parse_qsl(raw, keep_blank_values=True, errors="werkzeug.url_quote"))


def _json(payload) -> "tuple[bytes, list]":
    body = json_text(payload).encode()
    return body, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]


class LeanPeerRoutes:
    """WSGI middleware: answer the hot /peer/* GETs itself, pass everything else to `app`."""

    def __init__(self, app, service, http_metrics: HttpMetrics):
        self.app, self.service, self.http_metrics = app, service, http_metrics

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO")
        call = peer_calls.GET_CALLS.get(path)
        if call is None or environ.get("REQUEST_METHOD") != "GET":
            return self.app(environ, start_response)
        started = time.perf_counter()
        try:
            info = peer_calls.answer(call, self.service, query_of(environ), peer_calls.caller_of(environ))
            status, (body, headers) = 200, (_EMPTY_OK if info is None else _json(info.encode()))
        except Exception as e:  # as Flask's error page (supernode/app.py): logged, a 500, no detail
            log.exception("unhandled error method=%s path=%s", "GET", path)
            status, (body, headers) = 500, _json(internal_error(e).encode())
        self.http_metrics.record(
            path, status, time.perf_counter() - started, get_content_length(environ) or 0, len(body)
        )
        start_response(_STATUS_LINES[status], list(headers))
        return [body]
