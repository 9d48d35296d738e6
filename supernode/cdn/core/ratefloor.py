"""The slowest a source stream may be (pure): a stall deadline that a trickle cannot dodge.

A read timeout alone is reset by every byte: a source sending one byte a minute kept a build
RUNNING for ever (and task GC never collects a running build). Here the stream must deliver at
least `min_rate * window` bytes in each window of `window` seconds, on a clock the caller stops
while our own rate limiter makes it wait.
"""


class RateFloor:
    def __init__(self, min_rate: int, window: float, now: float):
        self._need = max(min_rate, 0) * window
        self._window = window
        self._start, self._bytes = now, 0

    def feed(self, nbytes: int, now: float) -> str:
        """Count `nbytes` arrived at `now`; a message when the window just ended too slow, else ""."""
        self._bytes += nbytes
        elapsed = now - self._start
        if self._need <= 0 or elapsed < self._window:
            return ""
        if self._bytes < self._need:
            return (
                f"source too slow: {self._bytes} bytes in {elapsed:.0f}s, "
                f"below sourceMinRate ({self._need / self._window:.0f} B/s)"
            )
        self._start, self._bytes = now, 0
        return ""
