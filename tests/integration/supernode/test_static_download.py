"""`downloadServer: external` (docs/decisions.md #22): a static server over <home>/repo cannot
check who asks, so a credentialed task is never cached there; its clients fetch source ranges
with their own credentials, or go to the source when that cannot work."""

from common.protocol.codes import ResultCode as R
from supernode.cdn.core.contract import ProbeResult
from tests.integration.supernode.conftest import URL, Harness

AUTH = ["Authorization: Bearer good"]


def _accepts_good_token(req):
    return ProbeResult(200 if req.headers.get("Authorization") == "Bearer good" else 401, 3000, True)


def test_external_credentialed_task_is_fetched_from_the_source_and_never_built():
    h = Harness(download_server="external")
    h.cdn.probe_fn = _accepts_good_token
    answer = h.register("owner", headers=AUTH)
    assert answer.code == R.SUCCESS and answer.data.cdn_source == "source"
    assert not h.cdn.starts
    pull = h.pull("owner", answer.data.task_id, status=700)
    assert pull.code == R.PEER_CONTINUE
    assert all(p.path == URL for p in pull.data)  # source ranges, never a CDN file path
    assert h.register("anonymous").code == R.NEED_AUTH  # the credential check still applies to everyone


def test_builtin_credentialed_task_is_still_cached():
    h = Harness()
    h.cdn.probe_fn = _accepts_good_token
    answer = h.register("owner", headers=AUTH)
    assert answer.code == R.SUCCESS and answer.data.cdn_source == "supernode" and len(h.cdn.starts) == 1


def test_external_credentialed_task_without_ranges_sends_clients_to_the_source():
    h = Harness(download_server="external")
    h.cdn.probe_fn = lambda req: ProbeResult(200, 3000, supports_range=False)
    answer = h.register("owner", headers=AUTH)
    assert answer.code == R.SOURCE_ERROR and "download it from the source" in answer.msg
    assert not h.cdn.starts and not h.service.snapshot()["tasks"]


def test_external_public_task_is_built_like_builtin():
    h = Harness(download_server="external")
    answer = h.register("c1")
    assert answer.code == R.SUCCESS and answer.data.cdn_source == "supernode" and len(h.cdn.starts) == 1


def test_external_task_whose_source_turns_private_is_retired_for_an_anonymous_registrant():
    h = Harness(download_server="external", revalidate_interval="0s")
    first = h.register("c1")
    h.cdn.build()  # now cached: the next registration revalidates
    h.cdn.revalidations[URL] = ProbeResult(401)
    assert h.register("c2").code == R.NEED_AUTH
    assert first.data.task_id in h.cdn.forgotten  # the laid-out file is withdrawn with the task
    assert h.pull("c1", first.data.task_id).code == R.TARGET_NOT_FOUND


def test_external_task_is_not_retired_because_someone_sent_bad_credentials():
    h = Harness(download_server="external", revalidate_interval="0s")
    first = h.register("c1")
    h.cdn.build()
    h.cdn.revalidations[URL] = ProbeResult(401)
    assert h.register("c2", headers=["Authorization: Bearer wrong"]).code == R.NEED_AUTH
    assert first.data.task_id not in h.cdn.forgotten
