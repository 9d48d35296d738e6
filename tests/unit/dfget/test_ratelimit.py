from common.clock import FakeClock
from dfget.ratelimit import Limiter


def test_limiter_makes_callers_wait_for_tokens():
    clock, slept = FakeClock(), []

    def sleep(s):
        slept.append(s)
        clock.advance(s)

    limiter = Limiter(1024 * 1024, clock, sleep)
    limiter.take(64 * 1024)                    # within the burst
    assert slept == []
    limiter.take(1024 * 1024)                  # one second of traffic
    assert abs(sum(slept) - 1.0) < 0.01
    limiter.set_rate(0)                        # 0 = unlimited
    limiter.take(10 << 30)
    assert len(slept) == 1 and limiter.rate == 0
