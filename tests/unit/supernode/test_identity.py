"""Nobody acts as another client (issue 11 item 6) and credentials stay with their owner whatever
their header is called (item 2): the core's rules, with Callers as the shell would build them."""

from common.protocol.codes import ClientErrorType, PieceResult, ResultCode, TaskStatus
from supernode.core.coordinator import Caller, Probe, PullQuery
from supernode.core.identity import admits
from tests.unit.supernode.coreharness import URL, cdn_pieces, coordinator, ok_probe, pid_of, registrant

T = "t" * 64
OWNER, STRANGER = "10.0.1.5", "10.9.9.9"


def enrol(core, cid, addr=OWNER, key=None, **kw):
    key = key or f"key-of-{cid}"
    out = core.register(registrant(cid, caller=Caller(addr), client_key=key, **kw), ok_probe())
    assert out.answer.code == ResultCode.SUCCESS and out.answer.data.client_key == key
    return key


def test_admission_rules():
    assert admits("k", OWNER, False, Caller(OWNER))  # v1 client: its own address
    assert not admits("k", OWNER, False, Caller(STRANGER))  # anyone else
    assert admits("k", OWNER, False, Caller(STRANGER, "k"))  # the key from anywhere
    assert not admits("k", OWNER, False, Caller(OWNER, "wrong"))  # a wrong key is never an address
    assert not admits("k", OWNER, True, Caller(OWNER))  # once keyed, the address is not enough
    assert not admits("", OWNER, False, Caller(OWNER, "x"))  # no key was issued: no key matches
    assert not admits("k", OWNER, False, Caller(OWNER, "k" * 500))
    assert not admits("k", OWNER, False, Caller(OWNER, "ké"))  # non-ASCII: refused, no exception
    assert not admits("k", "", False, Caller(""))  # registered in-process: no address matches


def test_forged_reports_from_another_address_change_nothing():
    core = coordinator()
    enrol(core, "victim")
    cdn_pieces(core, T, 5)
    first = core.pull(PullQuery(task_id=T, src_cid="victim"), Caller(OWNER)).answer
    assert first.code == ResultCode.PEER_CONTINUE
    piece = first.data[0]
    stranger = Caller(STRANGER)
    forged = [
        core.piece_success(T, "victim", piece.cid, piece.range, stranger),
        core.pull(PullQuery(task_id=T, src_cid="victim", status=TaskStatus.FINISH, result=PieceResult.FAIL), stranger),
        core.service_down(T, "victim", stranger),
    ]
    assert [o.answer.code for o in forged] == [ResultCode.PARAM_ERROR] * 3
    assert [e.labels for o in forged for e in o.effects] == [("piece_success",), ("pull",), ("service_down",)]
    assert core.state.dfget(T, "victim").status.value != "FAILED"
    assert not core.state.progress.peers[pid_of(core, T, "victim")].down
    assert core.piece_status(T, "victim", piece.piece_num).value != "SUCCESS"
    # the victim itself still reports normally
    assert (
        core.piece_success(T, "victim", piece.cid, piece.range, Caller(OWNER)).answer.code
        == ResultCode.GET_PIECE_REPORT
    )


def test_nobody_speaks_for_the_supernodes_own_download():
    core = coordinator()
    enrol(core, "c")
    cdn_cid = next(dt.cid for dt in core.state.dfgets_of_task(T) if dt.peer_id == core.state.super_pid)
    for caller in (Caller(STRANGER), Caller("10.0.0.1"), Caller(STRANGER, "anything")):
        assert core.service_down(T, cdn_cid, caller).answer.code == ResultCode.PARAM_ERROR
        assert core.pull(PullQuery(task_id=T, src_cid=cdn_cid), caller).answer.code == ResultCode.PARAM_ERROR
    assert not core.state.progress.peers[core.state.super_pid].down


def test_a_client_that_used_its_key_must_keep_using_it():
    core = coordinator()
    key = enrol(core, "ours")
    cdn_pieces(core, T, 5)
    assert core.pull(PullQuery(task_id=T, src_cid="ours"), Caller(OWNER, key)).answer.code == ResultCode.PEER_CONTINUE
    # another user on the same host, without the key
    assert core.service_down(T, "ours", Caller(OWNER)).answer.code == ResultCode.PARAM_ERROR
    assert core.service_down(T, "ours", Caller(OWNER, "guess")).answer.code == ResultCode.PARAM_ERROR
    # the upload server (same host or not) with the key
    assert core.service_down(T, "ours", Caller(STRANGER, key)).answer.code == ResultCode.GET_PEER_DOWN


def test_nobody_takes_over_a_cid_by_registering_it_again():
    core = coordinator()
    key = enrol(core, "victim")
    pid = pid_of(core, T, "victim")
    hijack = core.register(registrant("victim", caller=Caller(STRANGER), client_key="attacker"), ok_probe())
    assert hijack.answer.code == ResultCode.PARAM_ERROR
    assert core.admit(registrant("victim", caller=Caller(STRANGER))).answer.code == ResultCode.PARAM_ERROR
    assert pid_of(core, T, "victim") == pid and core.state.dfget(T, "victim").client_key == key
    # the client itself may come back (a migration back to this node) with its key, and gets a new one
    again = core.register(registrant("victim", caller=Caller(STRANGER, key), client_key="new"), ok_probe())
    assert again.answer.code == ResultCode.SUCCESS and core.state.dfget(T, "victim").client_key == "new"


def test_a_strangers_piece_error_drops_no_holder():
    core = coordinator()
    enrol(core, "a")
    enrol(core, "b", addr="10.0.1.6")
    holder = pid_of(core, T, "a")
    core.state.progress.tasks[T].holders.setdefault(0, set()).add(holder)
    before = {n: set(h) for n, h in core.state.progress.tasks[T].holders.items()}
    out = core.piece_error(
        T, "0-1048575", "b", dst_pid=holder, error_type=ClientErrorType.FILE_NOT_EXIST.value, caller=Caller(STRANGER)
    )
    assert [e.labels for e in out.effects] == [("unauthorized",)]
    assert {n: set(h) for n, h in core.state.progress.tasks[T].holders.items()} == before
    core.piece_error(
        T, "0-1048575", "b", dst_pid=holder, error_type=ClientErrorType.FILE_NOT_EXIST.value, caller=Caller("10.0.1.6")
    )
    assert holder not in core.state.progress.tasks[T].holders.get(0, set())


def test_any_header_makes_a_task_credentialed_and_each_credential_is_checked():
    core = coordinator(revalidate_interval=10.0)
    owner = registrant("owner", headers=(("X-JFrog-Art-Api", "secret-key"),))
    assert core.register(owner, ok_probe()).answer.code == ResultCode.SUCCESS
    assert core.state.tasks[T].credentialed
    anonymous = core.admit(registrant("anon"))
    assert anonymous.probe and anonymous.own_probe  # the source decides, per client
    assert core.register(registrant("anon"), Probe(status=401)).answer.code == ResultCode.NEED_AUTH
    assert core.register(registrant("anon"), None).answer.code == ResultCode.WAIT_AUTH


def test_an_accepted_credential_is_remembered_briefly_and_only_as_a_fingerprint():
    core = coordinator(revalidate_interval=10.0)
    creds = (("X-JFrog-Art-Api", "secret-key"),)
    assert core.register(registrant("owner", headers=creds), ok_probe()).answer.code == ResultCode.SUCCESS
    assert "secret-key" not in repr(core.state.tasks[T].grants)
    same = core.admit(registrant("friend", headers=creds))
    assert not same.probe  # one check per credential and interval
    assert core.register(registrant("friend", headers=creds), None).answer.code == ResultCode.SUCCESS
    assert core.admit(registrant("other", headers=(("X-JFrog-Art-Api", "other"),))).probe
    core.clock.advance(10.0)
    assert core.admit(registrant("late", headers=creds)).probe  # expired: asked again


def test_cached_credentialed_task_is_checked_conditionally_and_another_variant_is_refused_not_swapped():
    core = coordinator(revalidate_interval=10.0)
    creds = (("X-Tenant", "a"),)
    core.register(registrant("owner", headers=creds), ok_probe())
    core.on_done(T, _done())
    adm = core.admit(registrant("b", headers=(("X-Tenant", "b"),)))
    assert adm.probe and adm.revalidate  # conditional on the cached copy
    other = core.register(registrant("b", headers=(("X-Tenant", "b"),)), Probe(status=200, revalidation=True))
    assert other.answer.code == ResultCode.NEED_AUTH and T in core.state.tasks  # not retired
    same = core.register(
        registrant("c", headers=(("X-Tenant", "a"), ("Accept", "*/*"))), Probe(status=304, revalidation=True)
    )
    assert same.answer.code == ResultCode.SUCCESS


def test_userinfo_or_a_filtered_query_makes_a_task_credentialed():
    core = coordinator()
    core.register(registrant("u", raw_url="http://me:pw@origin.example/file.bin"), ok_probe())
    assert core.state.tasks[T].credentialed
    core2 = coordinator()
    core2.register(registrant("q", raw_url=URL + "?sig=abc", task_url=URL), ok_probe())
    assert core2.state.tasks[T].credentialed


def _done():
    from supernode.cdn.core.contract import CdnResult

    return CdnResult(success=True, real_md5="m", file_length=100, piece_count=1, source_length=95)
