"""Long-poll /peer/task (docs/decisions.md #1): a held 602 is answered as soon as the CDN writes a piece.

The service waits on its injected clock; the harness's FakeClock moves only when a test advances
it, so a hold is seen to last (the clock has a waiter) and to expire without real waiting."""

import threading

from common.protocol.codes import ResultCode as R
from tests.integration.supernode.conftest import Harness
from tests.integration.supernode.fakes import FakeCdn
from tests.support.procs import wait_until

DEADLINE = 10.0  # a safety bound on joins and waits, never a timing check


def pull_in_thread(h, cid, task_id, wait):
    box = {}

    def run():
        box["answer"] = h.pull(cid, task_id, status=700, wait=wait)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def held(h, t):
    """Wait until the pull in `t` is parked on the clock (not answered 602 at once)."""
    wait_until(lambda: h.clock.waiting == 1, DEADLINE, "the pull to be held")
    assert t.is_alive()


def test_held_pull_wakes_on_cdn_piece():
    h = Harness(FakeCdn(auto=False))
    task_id = h.register("c1").data.task_id
    t, box = pull_in_thread(h, "c1", task_id, wait=10)
    held(h, t)
    h.cdn.build(upto=1, finish=False)
    t.join(DEADLINE)
    assert not t.is_alive()
    assert box["answer"].code == R.PEER_CONTINUE and box["answer"].data[0].piece_num == 0
    assert h.sample("dragonfly_supernode_long_poll_wakeups_total") == 1


def test_held_pull_wakes_with_500_when_the_build_fails():
    h = Harness(FakeCdn(auto=False, fail=True))
    task_id = h.register("c1").data.task_id
    t, box = pull_in_thread(h, "c1", task_id, wait=10)
    held(h, t)
    h.cdn.build(upto=0)
    t.join(DEADLINE)
    assert box["answer"].code == R.SYSTEM_ERROR


def test_wait_expires_with_602_when_the_clock_passes_it():
    h = Harness(FakeCdn(auto=False), long_poll_max="60s")
    task_id = h.register("c1").data.task_id
    t, box = pull_in_thread(h, "c1", task_id, wait=30)
    held(h, t)
    h.clock.advance(29)
    assert "answer" not in box  # not before the deadline...
    h.clock.advance(1)  # ...but once the clock reaches it
    t.join(DEADLINE)
    assert not t.is_alive() and box["answer"].code == R.PEER_WAIT
    assert h.sample("dragonfly_supernode_long_poll_wakeups_total") == 0


def test_wait_is_capped_by_long_poll_max():
    h = Harness(FakeCdn(auto=False), long_poll_max="1s")
    task_id = h.register("c1").data.task_id
    t, box = pull_in_thread(h, "c1", task_id, wait=5)
    held(h, t)
    h.clock.advance(1)
    t.join(DEADLINE)
    assert not t.is_alive() and box["answer"].code == R.PEER_WAIT


def test_without_wait_602_is_immediate():
    h = Harness(FakeCdn(auto=False))
    task_id = h.register("c1").data.task_id
    assert h.pull("c1", task_id, status=700).code == R.PEER_WAIT
    assert h.clock.waiting == 0


def test_held_pull_wakes_when_a_peer_persists_a_piece():
    h = Harness(supernode_task_upload_limit=1, peer_down_limit=1)
    task_id = h.register("a").data.task_id
    h.register("b")
    piece = h.pull("a", task_id, status=700).data[0]  # takes the supernode's only slot
    t, box = pull_in_thread(h, "b", task_id, wait=10)
    held(h, t)
    h.persist("a", piece=piece, task_id=task_id)
    t.join(DEADLINE)
    assert box["answer"].code == R.PEER_CONTINUE


def test_close_answers_held_pulls_at_once():
    h = Harness(FakeCdn(auto=False))
    task_id = h.register("c1").data.task_id
    t, box = pull_in_thread(h, "c1", task_id, wait=10)
    held(h, t)
    h.service.close()
    t.join(DEADLINE)
    assert not t.is_alive() and box["answer"].code == R.PEER_WAIT
