"""A token bucket on an injected clock. It decides how long to wait; callers do the waiting."""

from common.clock import Clock


class TokenBucket:
    """`rate` bytes per second with a burst of `burst` bytes; rate 0 means unlimited."""

    def __init__(self, rate: int, clock: Clock, burst: "int | None" = None) -> None:
        self._clock = clock
        self.set_rate(rate, burst)

    def set_rate(self, rate: int, burst: "int | None" = None) -> None:
        self.rate = max(int(rate), 0)
        # A burst of a few milliseconds of traffic keeps the shaping smooth (v1: 2 ms windows),
        # but never below 64 KiB so that one socket read fits.
        self.burst = burst if burst is not None else max(self.rate // 50, 64 * 1024)
        self._tokens = float(self.burst)
        self._stamp = self._clock.monotonic()

    def reserve(self, n: int) -> float:
        """Take `n` tokens now (going into debt if needed); return the seconds to wait first."""
        if self.rate <= 0 or n <= 0:
            return 0.0
        now = self._clock.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= n
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def refund(self, n: int) -> None:
        """Give back `n` tokens reserved for bytes that will never be sent."""
        if self.rate > 0 and n > 0:
            self._tokens = min(self.burst, self._tokens + n)
