from common.digest import preheat_id, task_id


def test_task_id_sanity_value_from_v1():
    assert (
        task_id("http://127.0.0.1:8009/normal.txt")
        == "f4ebff40fb4fb2bb2659c12e8cfcf8d7197dde43c28a96c672f736a604883db6"
    )


def test_md5_wins_over_identifier_and_range_counts():
    base = task_id("http://h/f")
    assert task_id("http://h/f", md5="abc", identifier="x") == task_id("http://h/f", md5="abc")
    assert task_id("http://h/f", identifier="x") != base
    assert task_id("http://h/f", headers={"Range": "bytes=0-9"}) != base
    assert task_id("http://h/f", headers={"Accept": "x"}) == base


def test_preheat_id_ignores_md5():
    assert preheat_id("http://127.0.0.1:8009/normal.txt") == task_id("http://127.0.0.1:8009/normal.txt")
