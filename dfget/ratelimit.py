"""The per-task bandwidth limiter (docs/architecture.md#one-download): a thread-safe shell around
common.rate.TokenBucket.

Waits are interruptible: `interrupt()` ends every wait in progress at once, and every wait that
starts after it, until `resume()`. Each download attempt resumes the limiter when it starts and
interrupts it when it ends, so that no abandoned thread sleeps on for what a poisoned rate
(1 B/s from a hostile upload server) would make days (issue 11 item 1).
"""

import threading

from common.rate import TokenBucket


class Limiter:
    """Blocks callers so that all pieces of one task together stay under `rate` bytes/s.

    `sleep(seconds)`, when given (tests with a fake clock), does the waiting instead; real runs
    wait on an event that `interrupt()` sets."""

    def __init__(self, rate: int, clock, sleep=None):
        self._bucket = TokenBucket(rate, clock)
        self._lock = threading.Lock()
        self._sleep = sleep
        self._wake = threading.Event()

    @property
    def rate(self) -> int:
        return self._bucket.rate

    def set_rate(self, rate: int) -> None:
        with self._lock:
            if rate != self._bucket.rate:
                self._bucket.set_rate(rate)

    def take(self, n: int) -> None:
        with self._lock:
            wait = self._bucket.reserve(n)
            wake = self._wake
        if wait <= 0:
            return
        if self._sleep is not None:
            self._sleep(wait)
        else:
            wake.wait(wait)

    def interrupt(self) -> None:
        """End every wait now and until `resume()` (callers check their own cancellation flag
        after each take, and stop)."""
        with self._lock:
            self._wake.set()

    def resume(self) -> None:
        """Waits are real again (a new attempt starts)."""
        with self._lock:
            if self._wake.is_set():
                self._wake = threading.Event()
