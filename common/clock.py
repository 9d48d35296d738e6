"""Clocks are injected so that the pure core never reads the wall clock itself, and so that a
shell that waits (the supernode's long poll) can be tested without waiting in real time. This
module holds what the cores ask of a clock; the clocks themselves are in common/shell/clock.py."""

from typing import Protocol


class Event(Protocol):
    """What a waiting clock needs of an event (a threading.Event is one)."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: "float | None" = None) -> bool: ...


class Clock(Protocol):
    """What the core asks of a clock."""

    def time(self) -> float: ...

    def monotonic(self) -> float: ...


class WaitingClock(Clock, Protocol):
    """A clock a shell also waits on (the supernode's long poll): SystemClock and FakeClock."""

    def wait(self, event: Event, timeout: float) -> bool: ...
