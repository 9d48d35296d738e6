"""Revalidation of a finished task in memory (registration.py's theory of operation): at most once per
revalidateInterval, a changed source retires the task and the CDN rebuilds it."""

from common.protocol.codes import ResultCode as R
from supernode.cdn.core.contract import ProbeResult
from tests.integration.supernode.conftest import URL, Harness


def finished(h, cid="c1"):
    answer = h.register(cid)
    assert answer.code == R.SUCCESS
    final, _ = h.download(cid, answer.data.task_id)
    assert final.code == R.PEER_FINISH
    return answer.data.task_id


def test_unchanged_source_is_asked_at_most_once_per_interval():
    h = Harness(revalidate_interval=10)
    task_id = finished(h)
    h.register("c2")
    assert h.cdn.revalidate_calls == []  # within the interval: no question asked
    h.clock.advance(11)
    assert h.register("c3").code == R.SUCCESS
    assert h.register("c4").code == R.SUCCESS
    assert [t for t, _ in h.cdn.revalidate_calls] == [task_id]  # once, then fresh for another interval
    assert len(h.cdn.starts) == 1 and h.sample("dragonfly_supernode_tasks_retired_total") == 0


def test_changed_source_retires_the_task_and_rebuilds_it():
    h = Harness(revalidate_interval=0)
    task_id = finished(h)
    running = h.register("slow")
    h.cdn.revalidations[URL] = ProbeResult(200, length=len(h.cdn.content) + 1, supports_range=True)
    answer = h.register("c2")
    assert answer.code == R.SUCCESS and answer.data.task_id == task_id
    assert answer.data.file_length == len(h.cdn.content) + 1
    assert len(h.cdn.starts) == 2  # the CDN builds the new version
    assert task_id in h.cdn.forgotten
    assert h.sample("dragonfly_supernode_tasks_retired_total") == 1
    # a client of the old version is no longer known: it re-registers (502 -> migration)
    assert h.pull("slow", running.data.task_id).code == R.TARGET_NOT_FOUND


def test_source_gone_retires_the_task_and_answers_607():
    h = Harness(revalidate_interval=0)
    finished(h)
    h.cdn.revalidations[URL] = ProbeResult(404)
    h.cdn.probes[URL] = ProbeResult(404)
    assert h.register("c2").code == R.URL_NOT_REACHABLE
    assert h.service.list_tasks() == []


def test_revalidation_errors_keep_serving_the_cached_copy():
    h = Harness(revalidate_interval=0)
    finished(h)
    h.cdn.revalidations[URL] = ProbeResult(0)
    assert h.register("c2").code == R.SUCCESS
    assert len(h.cdn.starts) == 1


def test_a_user_md5_pins_the_content_and_skips_revalidation():
    h = Harness(revalidate_interval=0)
    answer = h.register("c1", md5="0" * 32)
    h.download("c1", answer.data.task_id)
    h.register("c2", md5="0" * 32)
    assert h.cdn.revalidate_calls == []
