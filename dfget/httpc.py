"""A small keep-alive HTTP/1.1 client over http.client for dfget's control calls.

dfget talks plain HTTP to its supernodes and to its local upload server: small requests, small
JSON/text answers. `requests` costs ~60-90 ms of imports at start-up and ~1 ms of CPU per call;
this costs neither. One connection per (thread, host, port); a kept connection that the server
closed meanwhile is noticed before reuse (like urllib3 does), and an idempotent request that
still meets a closed connection is sent once more on a fresh one.
"""

import http.client
import json
import select
import threading
from typing import Any, NamedTuple
from urllib.parse import urlencode

STALE_ERRORS = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)  # RemoteDisconnected too


class HttpError(Exception):
    """Transport failure (connect, send, receive, timeout, malformed answer)."""


class Answer(NamedTuple):
    status: int
    body: bytes
    headers: Any

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Has the server closed (or written to) an idle kept connection?"""
    sock = conn.sock
    if sock is None:
        return True
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


class Client:
    def __init__(self):
        self._local = threading.local()

    def _conns(self) -> dict:
        conns = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        return conns

    def request(
        self,
        method: str,
        host: str,
        port: int,
        path: str,
        *,
        params=None,
        json_body=None,
        headers: "dict | None" = None,
        timeout: float = 5.0,
    ) -> Answer:
        if params:
            path = f"{path}?{urlencode(params)}"
        hdrs = dict(headers or {})
        body = None
        if json_body is not None:
            body = json.dumps(json_body, allow_nan=False).encode()
            hdrs["Content-Type"] = "application/json"
        idempotent = method in ("GET", "HEAD")
        key = (host, port)
        conns = self._conns()
        for attempt in range(2):
            conn = conns.get(key)
            reused = conn is not None and not _dropped(conn)
            if not reused:
                if conn is not None:
                    conn.close()
                conn = conns[key] = http.client.HTTPConnection(host, port, timeout=timeout)
            try:
                if conn.sock is not None:
                    conn.sock.settimeout(timeout)
                else:
                    conn.timeout = timeout
                conn.request(method, path, body=body, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    conn.close()
                return Answer(resp.status, data, resp.headers)
            except STALE_ERRORS + (http.client.RemoteDisconnected,) as e:
                conns.pop(key, None)
                conn.close()
                if reused and idempotent and attempt == 0:
                    continue
                raise HttpError(f"{host}:{port}{path}: {e or type(e).__name__}") from None
            except (OSError, http.client.HTTPException) as e:
                conns.pop(key, None)
                conn.close()
                raise HttpError(f"{host}:{port}{path}: {e or type(e).__name__}") from None
        raise HttpError(f"{host}:{port}{path}: connection closed")

    def close(self) -> None:
        for conn in self._conns().values():
            conn.close()
        self._local.conns = {}


def split_addr(addr: str, default_port: int = 80) -> "tuple[str, int]":
    """'host:port' / '[v6]:port' / 'host' -> (host, port)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or (host.startswith("[") != host.endswith("]")):
        host, port = addr, str(default_port)
    return host.strip("[]"), int(port)
