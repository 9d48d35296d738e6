from supernode.cdn.core.ratefloor import RateFloor


def test_a_window_below_the_floor_is_reported_once_it_ends():
    floor = RateFloor(100, 10.0, now=0.0)
    assert floor.feed(1, 5.0) == ""  # the window has not ended yet
    assert "too slow" in floor.feed(1, 10.0)  # 2 bytes in 10 s < 1000


def test_a_window_at_the_floor_starts_the_next_one():
    floor = RateFloor(100, 10.0, now=0.0)
    assert floor.feed(1000, 10.0) == ""
    assert floor.feed(10, 15.0) == ""
    assert "too slow" in floor.feed(10, 20.0)


def test_zero_rate_is_off():
    assert RateFloor(0, 1.0, now=0.0).feed(0, 1e9) == ""
