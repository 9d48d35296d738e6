from common.shell.clock import FakeClock
from dfget.ratelimit import Limiter


def test_limiter_makes_callers_wait_for_tokens():
    clock, slept = FakeClock(), []

    def sleep(s):
        slept.append(s)
        clock.advance(s)

    limiter = Limiter(1024 * 1024, clock, sleep)
    limiter.take(64 * 1024)  # within the burst
    assert slept == []
    limiter.take(1024 * 1024)  # one second of traffic
    assert abs(sum(slept) - 1.0) < 0.01
    limiter.set_rate(0)  # 0 = unlimited
    limiter.take(10 << 30)
    assert len(slept) == 1 and limiter.rate == 0


def test_an_interrupted_limiter_wakes_its_waiters_at_once():
    """A poisoned rate (1 B/s) must not hold a thread for days (issue 11 item 1): interrupt()
    ends every wait in progress; later takes wait again as usual."""
    import threading

    limiter = Limiter(1, FakeClock())
    woke = threading.Event()

    def take():
        limiter.take(1 << 20)  # ~12 days at 1 B/s
        woke.set()

    worker = threading.Thread(target=take, daemon=True)
    worker.start()
    limiter.interrupt()
    assert woke.wait(10), "take() still waiting after interrupt()"
    worker.join(10)
    assert not worker.is_alive()


def test_an_interrupted_limiter_stays_interrupted_until_resumed():
    import threading

    limiter = Limiter(1, FakeClock())
    limiter.interrupt()
    done = threading.Event()
    worker = threading.Thread(target=lambda: (limiter.take(1 << 20), done.set()), daemon=True)
    worker.start()  # a straggler of the abandoned attempt: must not wait
    assert done.wait(10)
    limiter.resume()
    assert limiter.rate == 1
