"""Clocks are injected so that the pure core never reads the wall clock itself."""
from typing import Protocol


class Clock(Protocol):
    """What the core asks of a clock."""

    def time(self) -> float: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """Real time: `time()` for timestamps, `monotonic()` for intervals."""

    def time(self) -> float:
        import time
        return time.time()

    def monotonic(self) -> float:
        import time
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to; for tests and simulations."""

    def __init__(self, start: float = 1_600_000_000.0) -> None:
        self._now = start

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds
