"""Long-poll /peer/task (docs/decisions.md #1): a held 602 is answered as soon as the CDN writes a piece."""
import threading
import time

from common.protocol.codes import ResultCode as R
from tests.integration.supernode.conftest import Harness
from tests.integration.supernode.fakes import FakeCdn


def pull_in_thread(h, cid, task_id, wait):
    box = {}

    def run():
        started = time.monotonic()
        box["answer"] = h.pull(cid, task_id, status=700, wait=wait)
        box["took"] = time.monotonic() - started
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def test_held_pull_wakes_on_cdn_piece():
    h = Harness(FakeCdn(auto=False))
    task_id = h.register("c1").data.task_id
    t, box = pull_in_thread(h, "c1", task_id, wait=10)
    time.sleep(0.2)
    assert t.is_alive()                                   # held, not answered 602
    h.cdn.build(upto=1, finish=False)
    t.join(5)
    assert not t.is_alive()
    assert box["answer"].code == R.PEER_CONTINUE and box["answer"].data[0].piece_num == 0
    assert box["took"] < 5
    assert h.sample("dragonfly_supernode_long_poll_wakeups_total") == 1


def test_held_pull_wakes_with_500_when_the_build_fails():
    h = Harness(FakeCdn(auto=False, fail=True))
    task_id = h.register("c1").data.task_id
    t, box = pull_in_thread(h, "c1", task_id, wait=10)
    time.sleep(0.1)
    h.cdn.build(upto=0)
    t.join(5)
    assert box["answer"].code == R.SYSTEM_ERROR


def test_wait_expires_with_602():
    h = Harness(FakeCdn(auto=False), long_poll_max="1s")
    task_id = h.register("c1").data.task_id
    started = time.monotonic()
    assert h.pull("c1", task_id, status=700, wait=0.3).code == R.PEER_WAIT
    assert 0.25 <= time.monotonic() - started < 2
    started = time.monotonic()
    assert h.pull("c1", task_id, status=700, wait=5).code == R.PEER_WAIT     # capped by long_poll_max
    assert time.monotonic() - started < 2.5


def test_without_wait_602_is_immediate():
    h = Harness(FakeCdn(auto=False))
    task_id = h.register("c1").data.task_id
    assert h.pull("c1", task_id, status=700).code == R.PEER_WAIT


def test_held_pull_wakes_when_a_peer_persists_a_piece():
    h = Harness(supernode_task_upload_limit=1, peer_down_limit=1)
    task_id = h.register("a").data.task_id
    h.register("b")
    piece = h.pull("a", task_id, status=700).data[0]           # takes the supernode's only slot
    t, box = pull_in_thread(h, "b", task_id, wait=10)
    time.sleep(0.2)
    assert t.is_alive()
    h.persist("a", piece=piece, task_id=task_id)
    t.join(5)
    assert box["answer"].code == R.PEER_CONTINUE
