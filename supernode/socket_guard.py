"""The socket guard on gunicorn's gevent worker: per-source connection budgets and read deadlines.

Without it, 10,000 connections that trickle their headers (or send none) held every greenlet of
the API port's pool for gunicorn's keep-alive time, and legitimate clients could not register.
The decisions are in supernode/core/connections.py; here they are applied to real sockets:
`install(worker, ...)` wraps the worker's per-connection `handle` (budget and shedding at accept,
a guarded socket for the parser) and `handle_request` (headers in -> body deadline and busy;
response out -> idle and waiting).
"""

import logging
import socket
import time

from werkzeug.exceptions import RequestTimeout

from supernode.core.connections import Deadlines, Phase, ReadDeadline, Shedder, SourceBudget

log = logging.getLogger(__name__)


def _answer(status: str, message: str) -> bytes:
    body = f'{{"code":{status.split()[0]},"message":"{message}"}}\n'.encode()
    head = (
        f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


_OVER_BUDGET = _answer("503 Service Unavailable", "too many connections from this address")
_HEADER_TIMEOUT = _answer("408 Request Timeout", "request headers did not arrive in time")
_SEND_TIMEOUT = 1.0  # for the tiny refusal answers above; a client that does not read gets none


class GuardedSocket:
    """The client socket as gunicorn sees it: every read waits at most until the deadline."""

    def __init__(self, sock, deadline: ReadDeadline, on_timeout, shedder: Shedder):
        self._sock = sock
        self.deadline = deadline
        self.shedder = shedder
        self._on_timeout = on_timeout
        self._expired = False

    def recv(self, size: int) -> bytes:
        if self._expired:
            return b""
        prior = self._sock.gettimeout()  # gunicorn bounds its own body drain the same way
        ours = self.deadline.remaining(time.monotonic())
        if ours <= 0:
            return self._expire()
        self._sock.settimeout(ours if prior is None else min(prior, ours))
        try:
            data = self._sock.recv(size)
        except TimeoutError:
            if prior is not None and prior < ours:
                raise
            return self._expire()
        finally:
            self._sock.settimeout(prior)
        if self.deadline.received(data, time.monotonic()):
            self.shedder.waits(self)  # a new request after an idle spell is young again
        return data

    def shed(self) -> None:
        """Close to make room: the blocked read (if any) returns at once and gunicorn closes."""
        self._expired = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _expire(self) -> bytes:
        """The phase's deadline passed: answer if a request is under way, then read nothing more."""
        self._expired = True
        phase = self.deadline.phase
        self._on_timeout(phase)
        if phase is Phase.BODY:  # raised inside the handler's body read: Flask answers 408
            raise RequestTimeout(
                f"the request body did not arrive within {self.deadline.limits.body_timeout:g} seconds"
            )
        if phase is Phase.HEADER:
            send_quietly(self._sock, _HEADER_TIMEOUT)
        return b""  # the parser sees the end of the stream and closes the connection

    def __getattr__(self, name):
        return getattr(self._sock, name)


def send_quietly(sock, data: bytes) -> None:
    try:
        sock.settimeout(_SEND_TIMEOUT)
        sock.sendall(data)
    except OSError:
        pass


class SocketGuard:
    """What install() puts around one worker: the budget, the deadlines and the open sockets."""

    def __init__(self, limits: Deadlines, per_source: int, pool_size: int, metrics=None):
        self.limits = limits
        self.budget = SourceBudget(per_source)
        self.pool_size = pool_size
        self.shedders: dict[int, Shedder] = {}
        self.open: set[GuardedSocket] = set()
        self._metrics = metrics
        self._refusals: dict[str, int] = {}

    def refused(self, reason: str, source: str) -> None:
        if self._metrics is not None:
            self._metrics.connections_refused.labels(reason).inc()
        n = self._refusals[reason] = self._refusals.get(reason, 0) + 1
        if n & (n - 1) == 0:  # 1st, 2nd, 4th, 8th...: visible in the log, never a flood of lines
            log.warning("connections refused reason=%s total=%s last_source=%s", reason, n, source)

    def wrap_handle(self, handle):
        def guarded(listener, client, addr):
            port, source = listener.getsockname()[1], _source(addr)
            if not self.budget.admit(port, source):
                self.refused("source_budget", source)
                send_quietly(client, _OVER_BUDGET)
                client.close()
                return None
            shedder = self.shedders.setdefault(port, Shedder.for_pool(self.pool_size))
            victim = shedder.victim()
            if victim is not None:
                self.refused("shed", source)
                victim.shed()
            conn = GuardedSocket(
                client,
                ReadDeadline.accepted(self.limits, time.monotonic()),
                lambda phase: self.refused(f"{phase.value}_timeout", source),
                shedder,
            )
            shedder.accepted(conn)
            self.open.add(conn)
            try:
                return handle(listener, conn, addr)
            finally:
                self.open.discard(conn)
                shedder.closed(conn)
                self.budget.release(port, source)

        return guarded

    @staticmethod
    def wrap_handle_request(handle_request):
        def guarded(listener_name, req, sock, addr):
            if not isinstance(sock, GuardedSocket):
                return handle_request(listener_name, req, sock, addr)
            sock.deadline.headers_done(time.monotonic())
            sock.shedder.busy(sock)
            try:
                return handle_request(listener_name, req, sock, addr)
            finally:
                sock.deadline.response_done(time.monotonic())
                sock.shedder.waits(sock)

        return guarded


def _source(addr) -> str:
    return addr[0] if isinstance(addr, tuple) and addr else str(addr)


def _or_never(seconds: float) -> float:
    """A deadline setting of 0 means none: a day is as good as never for one read."""
    return seconds if seconds > 0 else 86400.0


def install(worker, settings, metrics=None) -> SocketGuard:
    """Guard every connection the worker accepts from now on (call before its servers start)."""
    limits = Deadlines(
        header_timeout=_or_never(settings.request_header_timeout),
        body_timeout=_or_never(settings.request_body_timeout),
        idle_timeout=_or_never(float(worker.cfg.keepalive or 0)),
    )
    guard = SocketGuard(limits, settings.max_connections_per_source, worker.cfg.worker_connections, metrics)
    worker.handle = guard.wrap_handle(worker.handle)  # run() binds worker.handle after this hook
    worker.handle_request = guard.wrap_handle_request(worker.handle_request)
    return guard
