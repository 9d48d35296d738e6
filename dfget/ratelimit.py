"""The per-task bandwidth limiter (spec §7.3): a thread-safe shell around common.rate.TokenBucket."""
import threading

from common.rate import TokenBucket


class Limiter:
    """Blocks callers so that all pieces of one task together stay under `rate` bytes/s."""

    def __init__(self, rate: int, clock, sleep):
        self._bucket = TokenBucket(rate, clock)
        self._lock = threading.Lock()
        self._sleep = sleep

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
        if wait > 0:
            self._sleep(wait)
