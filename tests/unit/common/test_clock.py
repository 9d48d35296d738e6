"""FakeClock.wait: time passes only when a test advances the clock, and a forgotten advance fails
instead of hanging."""

import threading

import pytest

from common.shell.clock import FakeClock, SystemClock
from tests.support.procs import wait_until


def test_a_set_event_ends_the_wait_at_once():
    event = threading.Event()
    event.set()
    assert FakeClock().wait(event, 1e9) is True
    assert SystemClock().wait(event, 1e9) is True


def test_the_wait_ends_when_the_clock_reaches_its_timeout():
    clock, box = FakeClock(), {}
    t = threading.Thread(target=lambda: box.setdefault("woke", clock.wait(threading.Event(), 60)), daemon=True)
    t.start()
    wait_until(lambda: clock.waiting == 1, 10, "the waiter")
    clock.advance(59)
    assert "woke" not in box
    clock.advance(1)
    t.join(10)
    assert box == {"woke": False} and clock.waiting == 0


def test_a_wait_nobody_ends_fails(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(clock, "REAL_WAIT_LIMIT", 0.05)
    with pytest.raises(TimeoutError):
        clock.wait(threading.Event(), 60)
    assert clock.waiting == 0
