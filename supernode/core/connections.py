"""Admission and read deadlines of client connections: what the socket guard decides.

Theory of operation. Every port of the supernode has one pool of greenlets (gunicorn's
`worker_connections`); a connection holds one from accept to close. A client that opens many
connections, or keeps each one half-sent, could hold the whole pool and shut everyone out.
So:

- SourceBudget: each (port, source address) may hold at most `limit` connections at once; the next
  one is refused at accept. Ports are counted apart, so a flood of the API port leaves the download
  port (pieces) its own budget.
- ReadDeadline: a connection is always in one of three phases, each with its own deadline:
  HEADER  from accept, or from the first byte after an idle spell, until the request's headers are
          in: `header_timeout` in total however slowly the bytes trickle;
  BODY    from the headers until the handler has read the body: `body_timeout` in total;
  IDLE    between requests of a keep-alive connection: `idle_timeout` with no byte.
  A held long poll (/peer/task?wait=...) reads nothing while it waits, so no deadline runs then.
  The shell asks `remaining(now)` before each read and tells the deadline what happened.
- Shedder: budgets do not stop many addresses at once. When a port's pool is nearly full
  (`reserve` slots left), each new connection closes the one that has waited longest without a
  request under way (HEADER or IDLE, oldest first; a request that begins after an idle spell
  counts as new). A trickling connection only ages; a legitimate one gets its headers in at once
  and is busy (BODY, or held in its handler) until its answer is sent.
"""

import enum
from collections import OrderedDict
from dataclasses import dataclass, field


class Phase(enum.Enum):
    HEADER = "header"
    BODY = "body"
    IDLE = "idle"


@dataclass(frozen=True)
class Deadlines:
    header_timeout: float
    body_timeout: float
    idle_timeout: float


@dataclass
class ReadDeadline:
    """The read deadline of one connection (times in seconds on the shell's monotonic clock)."""

    limits: Deadlines
    phase: Phase = Phase.HEADER
    expires_at: float = 0.0

    @classmethod
    def accepted(cls, limits: Deadlines, now: float) -> "ReadDeadline":
        return cls(limits, Phase.HEADER, now + limits.header_timeout)

    def remaining(self, now: float) -> float:
        """Seconds the next read may wait; <= 0 means the deadline has passed."""
        return self.expires_at - now

    def received(self, data: bytes, now: float) -> bool:
        """Bytes arrived: the first byte after an idle spell starts a new request's headers (True)."""
        if data and self.phase is Phase.IDLE:
            self.phase, self.expires_at = Phase.HEADER, now + self.limits.header_timeout
            return True
        return False

    def headers_done(self, now: float) -> None:
        self.phase, self.expires_at = Phase.BODY, now + self.limits.body_timeout

    def response_done(self, now: float) -> None:
        self.phase, self.expires_at = Phase.IDLE, now + self.limits.idle_timeout


@dataclass
class SourceBudget:
    """Open connections per (port, source address); `limit` 0 means no limit."""

    limit: int
    open: "dict[tuple[int, str], int]" = field(default_factory=dict)

    def admit(self, port: int, source: str) -> bool:
        key = (port, source)
        held = self.open.get(key, 0)
        if self.limit and held >= self.limit:
            return False
        self.open[key] = held + 1
        return True

    def release(self, port: int, source: str) -> None:
        key = (port, source)
        held = self.open.get(key, 0) - 1
        if held > 0:
            self.open[key] = held
        else:
            self.open.pop(key, None)

    def held(self, port: int, source: str) -> int:
        return self.open.get((port, source), 0)


@dataclass
class Shedder:
    """One port's connections waiting for a request, oldest first; the victim when the pool is
    within `reserve` slots of `capacity`."""

    capacity: int
    reserve: int
    open: int = 0
    waiting: "OrderedDict[object, None]" = field(default_factory=OrderedDict)

    @classmethod
    def for_pool(cls, capacity: int) -> "Shedder":
        return cls(capacity, max(8, capacity // 20))

    def accepted(self, conn: object) -> None:
        self.open += 1
        self.waiting[conn] = None

    def waits(self, conn: object) -> None:
        """`conn` waits for (the rest of) a request from now on: it goes to the young end."""
        self.waiting.pop(conn, None)
        self.waiting[conn] = None

    def busy(self, conn: object) -> None:
        self.waiting.pop(conn, None)

    def closed(self, conn: object) -> None:
        self.open -= 1
        self.waiting.pop(conn, None)

    def victim(self) -> object | None:
        """The connection to close to make room, or None when there is room (or nobody waits)."""
        if self.open < self.capacity - self.reserve or not self.waiting:
            return None
        conn, _ = self.waiting.popitem(last=False)
        return conn
