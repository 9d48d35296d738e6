"""The core's state machine: registration rules, pull answers, finish, CDN events, reports."""

from common.protocol.codes import CdnStatus, DfgetTaskStatus
from common.protocol.codes import ResultCode as R
from supernode.cdn.core.contract import CdnResult
from supernode.core import effects as fx
from supernode.core.coordinator import Probe
from tests.unit.supernode.coreharness import URL, cdn_pieces, coordinator, ok_probe, pid_of, pull, register, registrant

T = "t" * 64


def done(core, n=3, md5="real"):
    core.on_done(T, CdnResult(success=True, real_md5=md5, source_length=100, file_length=115, piece_count=n))


def test_first_registration_triggers_cdn_once_and_later_ones_do_not():
    core = coordinator()
    out = register(core, "c1")
    starts = [e for e in out.effects if isinstance(e, fx.StartCdn)]
    assert len(starts) == 1 and starts[0].task_id == T
    assert core.state.tasks[T].cdn_status is CdnStatus.RUNNING
    assert not [e for e in register(core, "c2").effects if isinstance(e, fx.StartCdn)]
    # the supernode's own download record: CID cdnnode:<ip>~<task>
    assert core.state.dfget(T, f"cdnnode:10.0.0.1~{T}").peer_id == core.state.super_pid


def test_failed_build_is_triggered_again_by_the_next_registration():
    core = coordinator()
    register(core, "c1")
    core.on_done(T, CdnResult(success=False, error="x"))
    assert pull(core, "c1", status=700, result=502).code == R.SYSTEM_ERROR
    assert [e for e in register(core, "c2").effects if isinstance(e, fx.StartCdn)]


def test_task_id_conflict_rule():
    core = coordinator()
    register(core, "c1", md5="abc")
    assert core.register(registrant("c2", task_url=URL + "x", md5="abc"), ok_probe()).answer.code == R.TASK_CONFLICT
    assert core.register(registrant("c2", md5="zzz"), ok_probe()).answer.code == R.TASK_CONFLICT
    assert core.register(registrant("c2", identifier="abc"), ok_probe()).answer.code == R.TASK_CONFLICT
    assert core.register(registrant("c2", md5="abc", identifier="other"), ok_probe()).answer.code == R.SUCCESS


def test_unreachable_source_is_remembered_for_fail_access_interval():
    core = coordinator(fail_access_interval=180)
    assert core.register(registrant("c1"), Probe(status=404)).answer.code == R.URL_NOT_REACHABLE
    assert core.admit(registrant("c2")).answer.code == R.URL_NOT_REACHABLE
    core.clock.advance(181)
    adm = core.admit(registrant("c2"))
    assert adm.answer is None and adm.probe


def test_need_auth_and_credential_check():
    core = coordinator()
    assert core.register(registrant("c1"), Probe(status=401)).answer.code == R.NEED_AUTH
    assert T not in core.state.tasks
    register(core, "c1", headers=(("Authorization", "Bearer a"),))
    assert core.state.tasks[T].credentialed
    adm = core.admit(registrant("c2"))
    assert adm.probe and adm.own_probe
    assert core.register(registrant("c2"), Probe(status=403)).answer.code == R.NEED_AUTH
    assert core.register(registrant("c2"), None).answer.code == R.WAIT_AUTH
    assert core.register(registrant("c3", headers=(("Authorization", "Bearer b"),)), ok_probe()).answer.code == 200


def test_port_zero_peer_is_never_a_holder():
    core = coordinator()
    out = register(core, "cdnpeer", port=0)
    assert fx.Count(fx.Metric.REGISTRATIONS_WITHOUT_UPLOAD) in out.effects
    register(core, "c2")
    cdn_pieces(core, T, 3)
    for piece in pull(core, "cdnpeer", status=700, result=502).data:
        core.piece_success(T, "cdnpeer", piece.cid, piece.range)
    assert not any(core.state.progress.tasks[T].holders.values())
    assert all(p.cid.startswith("cdnnode:") for p in pull(core, "c2", status=700, result=502).data)


def test_finish_rule_answers_real_md5_and_wrapped_length():
    core = coordinator()
    register(core, "c1")
    cdn_pieces(core, T, 3)
    for piece in pull(core, "c1", status=700, result=502).data:
        core.piece_success(T, "c1", piece.cid, piece.range)
    assert pull(core, "c1", status=701, result=502).code == R.PEER_WAIT  # CDN not finished yet
    done(core)
    ans = pull(core, "c1", status=701, result=502)
    assert ans.code == R.PEER_FINISH and ans.data.md5 == "real" and ans.data.file_length == 115
    assert core.state.dfget(T, "c1").status is DfgetTaskStatus.SUCCESS


def test_successful_task_is_never_downgraded():
    core = coordinator()
    register(core, "c1")
    done(core)
    core.on_done(T, CdnResult(success=False))
    assert core.state.tasks[T].cdn_status is CdnStatus.SUCCESS
    assert core.state.tasks[T].piece_total == 3


def test_status_702_success_is_sticky():
    core = coordinator()
    register(core, "c1")
    register(core, "c2")
    assert pull(core, "c1", status=702, result=501).code == R.PEER_FINISH
    pull(core, "c1", status=702, result=500)
    assert core.state.dfget(T, "c1").status is DfgetTaskStatus.SUCCESS
    pull(core, "c2", status=702, result=500)
    assert core.state.dfget(T, "c2").status is DfgetTaskStatus.FAILED


def test_bad_status_range_and_unknown_client():
    core = coordinator()
    register(core, "c1")
    assert pull(core, "c1", status=799, result=502).code == R.PARAM_ERROR
    assert pull(core, "c1", status=701, result=503, range="oops").code == R.PARAM_ERROR
    assert pull(core, "nobody", status=700, result=502).code == R.TARGET_NOT_FOUND


def test_peer_that_failed_a_piece_is_never_again_that_clients_source():
    core = coordinator()
    register(core, "a")
    register(core, "b")
    cdn_pieces(core, T, 1)
    piece = pull(core, "a", status=700, result=502).data[0]
    core.piece_success(T, "a", piece.cid, piece.range)
    given = pull(core, "b", status=700, result=502).data[0]
    assert given.cid == "a"
    core.piece_error(T, given.range, "b", dst_cid="a", error_type="FILE_MD5_NOT_MATCH")
    assert pull(core, "b", status=701, result=500, range=given.range, dst_cid="a").data[0].cid.startswith("cdnnode:")
    assert pid_of(core, T, "a") not in core.state.progress.tasks[T].holders[0]


def test_file_not_exist_drops_the_holder_from_every_piece():
    core = coordinator()
    register(core, "a")
    register(core, "b")
    cdn_pieces(core, T, 2)
    for piece in pull(core, "a", status=700, result=502).data:
        core.piece_success(T, "a", piece.cid, piece.range)
    core.piece_error(T, "0-1048575", "b", dst_cid="a", error_type="FILE_NOT_EXIST")
    assert not any(core.state.progress.tasks[T].holders.values())


def test_piece_error_against_the_supernode_asks_for_repair():
    core = coordinator()
    register(core, "a")
    out = core.piece_error(
        T, "0-4194303", "a", dst_cid=f"cdnnode:10.0.0.1~{T}", error_type="FILE_MD5_NOT_MATCH", expected_md5="m:1"
    )
    assert [e for e in out.effects if isinstance(e, fx.RepairPiece)][0].piece == 0


def test_cdn_pattern_source_marks_everything_available_at_once():
    core = coordinator(cdn_pattern="source")
    out = register(core, "a")
    assert not [e for e in out.effects if isinstance(e, fx.StartCdn)]
    assert out.answer.data.cdn_source == "source"
    task = core.state.tasks[T]
    assert task.cdn_status is CdnStatus.SUCCESS and task.piece_total == 5
    data = pull(core, "a", status=700, result=502).data
    assert data[0].path == URL
    assert core.register(registrant("x", task_id="u" * 64), Probe(200, 10, supports_range=False)).answer.code == 500


def test_service_down_stamps_the_peer_and_scheduler_stops_using_it():
    core = coordinator()
    register(core, "a")
    register(core, "b")
    cdn_pieces(core, T, 1)
    piece = pull(core, "a", status=700, result=502).data[0]
    core.piece_success(T, "a", piece.cid, piece.range)
    assert core.service_down(T, "a").answer.code == R.GET_PEER_DOWN
    assert core.service_down(T, "zzz").missing
    assert pull(core, "b", status=700, result=502).data[0].cid.startswith("cdnnode:")


def test_supernode_load_reset_after_unchanged_interval():
    core = coordinator(super_load_reset=30, peer_down_limit=4)
    register(core, "a")
    cdn_pieces(core, T, 4)
    pull(core, "a", status=700, result=502)
    assert core.state.progress.tasks[T].super_load == 4
    core.clock.advance(29)
    assert not core.reset_stale_super_loads().effects
    core.clock.advance(1)
    assert core.reset_stale_super_loads().effects == [fx.Wake(T)]
    assert core.state.progress.tasks[T].super_load == 0


def test_same_client_registering_again_starts_afresh_and_retires_its_old_peer():
    core = coordinator()
    register(core, "c1")
    old = pid_of(core, T, "c1")
    cdn_pieces(core, T, 2)
    pull(core, "c1", status=700, result=502)
    assert core.state.progress.tasks[T].super_load == 2
    core.clock.advance(1)
    register(core, "c1")
    assert pid_of(core, T, "c1") != old and core.state.progress.peers[old].down
    assert core.state.progress.tasks[T].super_load == 0
    assert len(pull(core, "c1", status=700, result=502).data) == 2
