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
"""
import enum
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

    def received(self, data: bytes, now: float) -> None:
        """Bytes arrived: the first byte after an idle spell starts a new request's headers."""
        if data and self.phase is Phase.IDLE:
            self.phase, self.expires_at = Phase.HEADER, now + self.limits.header_timeout

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
