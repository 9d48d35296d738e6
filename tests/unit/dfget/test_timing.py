import itertools

import pytest

from dfget.core.timing import (
    RefreshTimer,
    WaitBackoff,
    download_timeout,
    effective_rate,
    piece_timeout,
    suc_retry_delays,
)

KB, MB = 1024, 1024 * 1024


@pytest.mark.parametrize(
    "length,min_rate,user,expected",
    [
        (0, 64 * KB, 0, 300),
        (-1, 64 * KB, 0, 300),  # unknown length: 5 minutes
        (64 * KB * 100, 64 * KB, 0, 110),  # length / minRate + 10 s
        (64 * KB * 100, 0, 0, 110),  # default minRate 64 KiB/s
        (MB, MB, 0, 11),
        (10 * MB, 64 * KB, 30, 30),  # --timeout wins
        (100, 64 * KB, 0, 10),
    ],
)
def test_download_timeout(length, min_rate, user, expected):
    assert download_timeout(length, min_rate, user) == expected


def test_piece_timeout_matches_v1_example():
    assert piece_timeout(4 * MB, 64 * KB) == 74


def test_wait_backoff_doubles_up_to_a_cap_and_resets():
    backoff = WaitBackoff(lambda: 1.0)
    delays = [backoff.next(0.0, 0.0) for _ in range(6)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 1.6])
    backoff.reset()
    assert backoff.next(0.0, 0.0) == pytest.approx(0.1)


def test_wait_backoff_is_zero_when_the_supernode_held_the_long_poll():
    backoff = WaitBackoff(lambda: 0.0)
    assert backoff.next(waited=19.0, asked=20.0) == 0.0
    assert backoff.next(waited=0.01, asked=20.0) == pytest.approx(0.05)  # a v1 supernode ignores `wait`


def test_suc_retry_delays():
    values = itertools.cycle([0.0, 1.0])
    assert suc_retry_delays(lambda: next(values)) == pytest.approx([0.0, 0.05, 0.55])


def test_refresh_timer_at_most_every_3_seconds():
    t = RefreshTimer()
    assert [t.due(x) for x in (0.0, 1.0, 2.9, 3.0, 5.0, 6.1)] == [True, False, False, True, False, True]


def test_effective_rate_never_exceeds_local_limit():
    assert effective_rate(20 * MB, None) == 20 * MB
    assert effective_rate(20 * MB, 5 * MB) == 5 * MB
    assert effective_rate(20 * MB, 50 * MB) == 20 * MB
    assert effective_rate(20 * MB, 0) == 20 * MB
    assert effective_rate(0, 7) == 7
