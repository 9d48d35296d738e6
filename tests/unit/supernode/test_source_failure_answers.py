"""What a client is told when the source cannot be fetched: the cause in one line, the right code
(docs/errors.md)."""

from common import pieces
from common.protocol.codes import CdnStatus
from common.protocol.codes import ResultCode as R
from common.source_failures import Cause, Unreachable
from supernode.cdn.core.contract import CdnResult
from supernode.core.coordinator import Probe
from tests.unit.supernode.coreharness import coordinator, pull, register, registrant

T = "t" * 64
UNTRUSTED = Unreachable(Cause.TLS_UNTRUSTED, "origin:8443", "unable to get local issuer certificate")


def test_a_build_the_source_failed_is_answered_610_with_its_cause():
    core = coordinator()
    register(core, "c1")
    core.on_done(
        T,
        CdnResult(
            success=False,
            source_error=True,
            error="md5 mismatch: the source's bytes have md5 aaa, not the expected bbb (--md5)",
        ),
    )
    answer = pull(core, "c1", status=700, result=502)
    assert answer.code == R.SOURCE_ERROR
    assert "md5 mismatch" in answer.msg and "aaa" in answer.msg and "bbb" in answer.msg


def test_a_build_that_failed_otherwise_is_answered_500_with_its_cause():
    core = coordinator()
    register(core, "c1")
    core.on_done(T, CdnResult(success=False, error="cannot write piece 3: No space left on device"))
    answer = pull(core, "c1", status=700, result=502)
    assert answer.code == R.SYSTEM_ERROR and "No space left on device" in answer.msg


def test_the_cause_of_a_failed_build_is_forgotten_when_it_is_built_again():
    core = coordinator()
    register(core, "c1")
    core.on_done(T, CdnResult(success=False, source_error=True, error="old cause"))
    register(core, "c2")
    task = core.state.tasks[T]
    assert task.cdn_status is CdnStatus.RUNNING and task.cdn_error == ""


def test_a_source_that_cannot_be_reached_for_sure_is_refused_with_607_naming_the_cause():
    core = coordinator()
    answer = core.register(registrant("c1"), Probe(status=0, unreachable=UNTRUSTED)).answer
    assert answer.code == R.URL_NOT_REACHABLE
    assert "origin:8443" in answer.msg and "not trusted" in answer.msg and "--cacerts" in answer.msg
    # not remembered as unreachable: the next registrant may bring the right CA
    assert core.admit(registrant("c2")).answer is None


def test_a_timeout_lets_the_registration_go_on_as_v1_did():
    core = coordinator()
    timeout = Unreachable(Cause.TIMEOUT, "origin:80")
    assert core.register(registrant("c1"), Probe(status=0, unreachable=timeout)).answer.code == R.SUCCESS
    assert core.register(registrant("c2"), Probe(status=0)).answer.code == R.SUCCESS


def test_a_credentialed_task_whose_source_cannot_be_reached_is_607_not_need_auth():
    """608 makes dfget exit at once with 'credentials not accepted'; the source refused nothing."""
    core = coordinator()
    register(core, "c1", headers=(("Authorization", "Bearer a"),))
    assert core.state.tasks[T].credentialed
    for probe in (Probe(status=0, unreachable=UNTRUSTED), Probe(status=0), Probe(status=0, revalidation=True)):
        answer = core.register(registrant("c2", headers=(("Authorization", "Bearer a"),)), probe).answer
        assert answer.code == R.URL_NOT_REACHABLE and "credentials" in answer.msg, probe
        assert "HTTP 0" not in answer.msg


def test_the_piece_total_before_the_build_ends_counts_the_framing():
    """A 20 MiB file in 1 MiB pieces is cut into 21 (each piece carries 5 framing bytes): announced
    as 20, a build that failed at the end (a wrong --md5) left the console at 21/20."""
    size = 1024 * 1024
    assert pieces.estimated_piece_total(20 * size, size) == pieces.piece_count(20 * size, size) == 21
    core = coordinator()
    out = core.register(registrant("c1"), Probe(status=200, length=20 * size, supports_range=True))
    assert out.answer.data.piece_size == size and core.state.tasks[T].piece_total == 21
    assert pieces.unframed_piece_total(20 * size, size) == 20  # cdnPattern source: plain ranges
