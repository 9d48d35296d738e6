"""The clocks: real time for the programs, and a clock that moves only when a test tells it to
(the protocols the cores take are in common/clock.py)."""

import threading


class SystemClock:
    """Real time: `time()` for timestamps, `monotonic()` for intervals."""

    def time(self) -> float:
        import time

        return time.time()

    def monotonic(self) -> float:
        import time

        return time.monotonic()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Block until `event` is set (True) or `timeout` seconds pass (False)."""
        return event.wait(timeout)


class FakeClock:
    """A clock that moves only when told to; for tests and simulations."""

    # A wait that no advance() or event ends within this many real seconds is a test bug: fail, not hang.
    REAL_WAIT_LIMIT = 30.0
    _POLL = 0.01  # an Event cannot notify our condition, so a waiter also looks at its event this often

    def __init__(self, start: float = 1_600_000_000.0) -> None:
        self._now = start
        self._moved = threading.Condition()
        self.waiting = 0  # how many threads are in wait(): lets a test advance once they are

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        with self._moved:
            self._now += seconds
            self._moved.notify_all()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Block until `event` is set (True) or advance() has moved this clock `timeout` on (False)."""
        import time

        give_up = time.monotonic() + self.REAL_WAIT_LIMIT
        with self._moved:
            end = self._now + timeout
            self.waiting += 1
            try:
                while not event.is_set():
                    if self._now >= end:
                        return False
                    if time.monotonic() > give_up:
                        raise TimeoutError(
                            f"FakeClock.wait: nothing set the event or advanced the clock in {self.REAL_WAIT_LIMIT} s"
                        )
                    self._moved.wait(self._POLL)
                return True
            finally:
                self.waiting -= 1
