"""Registration: one CDN start per task, unreachable and auth answers, credential checks."""

import threading

from common.protocol.codes import ResultCode as R
from supernode.cdn.core.contract import ProbeResult
from tests.integration.supernode.conftest import URL, Harness
from tests.integration.supernode.fakes import FakeCdn


def test_fifty_concurrent_registrations_start_the_cdn_once():
    h = Harness(FakeCdn(auto=False))
    barrier = threading.Barrier(50)
    answers = []

    def run(i):
        barrier.wait()
        answers.append(h.register(f"client-{i}"))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(answers) == 50 and all(a.code == R.SUCCESS for a in answers)
    assert len({a.data.task_id for a in answers}) == 1
    assert len(h.cdn.starts) == 1
    assert h.sample("dragonfly_supernode_cdn_trigger_total") == 1
    assert len(h.cdn.probe_calls) < 50  # probes of a new task are coalesced
    assert h.sample("dragonfly_supernode_dfgettasks_registered_total", callsystem="") == 50


def test_source_404_answers_607_and_is_remembered():
    h = Harness()
    h.cdn.probes[URL] = ProbeResult(404)
    assert h.register("c1").code == R.URL_NOT_REACHABLE
    assert h.register("c2").code == R.URL_NOT_REACHABLE
    assert len(h.cdn.probe_calls) == 1 and not h.cdn.starts
    h.clock.advance(181)
    h.cdn.probes.clear()
    assert h.register("c3").code == R.SUCCESS


def test_source_401_answers_608():
    h = Harness()
    h.cdn.probes[URL] = ProbeResult(401)
    answer = h.register("c1")
    assert answer.code == R.NEED_AUTH and not h.cdn.starts


def test_invalid_url_answers_501():
    h = Harness()
    assert h.register("c1", url="ftp://x/y").code == R.PARAM_ERROR


def test_credentialed_task_checks_every_registrants_own_credentials():
    h = Harness()
    h.cdn.probe_fn = lambda req: ProbeResult(
        200 if req.headers.get("Authorization") in ("Bearer good", "Bearer other") else 401, 100
    )
    first = h.register("owner", headers=["Authorization: Bearer good"])
    assert first.code == R.SUCCESS
    assert h.register("anonymous").code == R.NEED_AUTH
    assert h.register("thief", headers=["Authorization: Bearer stolen?"]).code == R.NEED_AUTH
    assert h.register("friend", headers=["Authorization: Bearer other"]).code == R.SUCCESS
    # the first builds the task; later ones are conditional requests against the cached copy
    checks = h.cdn.probe_calls + [request for _, request in h.cdn.revalidate_calls]
    assert [r.headers.get("Authorization") for r in checks] == ["Bearer good", None, "Bearer stolen?", "Bearer other"]
    assert len(h.cdn.starts) == 1


def test_task_that_answered_401_anonymously_then_needs_credentials():
    h = Harness()
    h.cdn.probe_fn = lambda req: ProbeResult(200, 100) if "Cookie" in req.headers else ProbeResult(401)
    assert h.register("with-cookie", headers=["Cookie: s=1"]).code == R.SUCCESS
    assert h.register("anon").code == R.NEED_AUTH  # the task is now known to need credentials
    assert h.register("anon2").code == R.NEED_AUTH
    assert h.register("with-cookie-2", headers=["Cookie: s=2"]).code == R.SUCCESS


def test_public_task_is_not_probed_again():
    h = Harness()
    for i in range(5):
        assert h.register(f"c{i}").code == R.SUCCESS
    assert len(h.cdn.probe_calls) == 1
