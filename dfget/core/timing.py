"""Timeouts, back-off windows and refresh intervals (docs/architecture.md#a-pull-get-peertask,
docs/architecture.md#one-download, docs/decisions.md #1).

Everything takes its inputs (lengths, rates, an rng, the current time) as arguments.
"""

from collections.abc import Callable

DEFAULT_MIN_RATE = 64 * 1024
RESERVED_SECONDS = 10.0
UNKNOWN_LENGTH_TIMEOUT = 300.0
RATE_REFRESH_INTERVAL = 3.0
SUC_ATTEMPTS = 3
LONG_POLL_SECONDS = 20.0


def download_timeout(file_length: int, min_rate: int, user_timeout: float = 0.0) -> float:
    """§4.6: `--timeout` if > 0; else length / minRate + 10 s; 5 min if the length is unknown."""
    if user_timeout and user_timeout > 0:
        return float(user_timeout)
    if file_length is None or file_length <= 0:
        return UNKNOWN_LENGTH_TIMEOUT
    rate = min_rate if min_rate and min_rate > 0 else DEFAULT_MIN_RATE
    return file_length // rate + RESERVED_SECONDS


def piece_timeout(piece_size: int, min_rate: int) -> float:
    """One piece fetch: pieceSize / minRate + 10 s (4 MiB at 64 KiB/s -> 74 s)."""
    rate = min_rate if min_rate and min_rate > 0 else DEFAULT_MIN_RATE
    return piece_size // rate + RESERVED_SECONDS


class WaitBackoff:
    """How long to pause before asking again after a quick `602 wait`.

    Our supernode holds a 602 (long-poll) until a piece is ready, so a 602 that took about as long
    as we asked to wait needs no pause at all. A v1 supernode ignores `wait` and answers at once;
    then pause like v1: a random 50-100 ms window that doubles after each wait up to 800-1600 ms.
    Unlike v1 the window shrinks back once pieces flow again (`reset`).
    """

    def __init__(self, rng: Callable[[], float], low: float = 0.05, high: float = 0.1, cap: float = 0.8):
        self._rng = rng
        self._base = (low, high)
        self._cap = cap
        self.reset()

    def reset(self) -> None:
        self.low, self.high = self._base

    def next(self, waited: float, asked: float) -> float:
        if asked > 0 and waited >= asked * 0.5:
            return 0.0
        delay = self.low + (self.high - self.low) * self._rng()
        if self.low < self._cap:
            self.low, self.high = self.low * 2, self.high * 2
        return delay


def suc_retry_delays(rng: Callable[[], float], attempts: int = SUC_ATTEMPTS) -> "list[float]":
    """Pauses before each /peer/piece/suc attempt: none first, then 50-550 ms (v1)."""
    return [0.0] + [0.05 + 0.5 * rng() for _ in range(attempts - 1)]


class RefreshTimer:
    """Says when the shared rate should be asked for again (at most every `interval` s)."""

    def __init__(self, interval: float = RATE_REFRESH_INTERVAL):
        self.interval = interval
        self._last: float | None = None

    def due(self, now: float) -> bool:
        if self._last is None or now - self._last >= self.interval:
            self._last = now
            return True
        return False


def effective_rate(local_limit: int, granted: "int | None") -> int:
    """The per-task rate: what the local upload server granted (sharing --totallimit), but never
    above --locallimit; a missing or nonsensical grant keeps --locallimit."""
    if granted is None or granted <= 0:
        return local_limit
    return min(granted, local_limit) if local_limit > 0 else granted
