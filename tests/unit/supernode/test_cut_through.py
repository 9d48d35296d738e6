"""Cut-through through the coordinator (docs/decisions.md #25): a client whose registration says
its upload server streams is named as the source of a piece it is still fetching; a client that
did not say so (a v1 dfget) never is, and is never given such a source."""

from common.protocol.codes import ResultCode as R
from tests.unit.supernode import coreharness as harness
from tests.unit.supernode.coreharness import coordinator, register
from tests.unit.supernode.coreharness import pull as pull_answer

T = "t" * 64
PIECES = 4


def built(core):
    harness.built(core, T, PIECES)


def pieces_of(answer):
    assert answer.code == R.PEER_CONTINUE and answer.data, answer
    return {t.piece_num: t for t in answer.data}


def crowd(first_streams=True, second_streams=True, first_port=15001):
    core = coordinator(peer_down_limit=PIECES, supernode_task_upload_limit=PIECES)
    register(core, "first", streams_pieces=first_streams, port=first_port)
    register(core, "second", streams_pieces=second_streams)
    register(core, "third", streams_pieces=True)  # still to come: a crowd, so super-seeding applies
    built(core)
    first = pieces_of(pull_answer(core, "first", status=700, result=502))
    assert all(t.cid.startswith("cdnnode:") for t in first.values())
    return core, first


def test_a_streaming_client_forwards_what_it_is_still_fetching():
    from supernode.core.coordinator import PullQuery
    from supernode.core.effects import Count, Metric

    core, first = crowd()
    out = core.pull(PullQuery(task_id=T, src_cid="second", status=700, result=502))
    second = pieces_of(out.answer)
    counted = [e for e in out.effects if isinstance(e, Count) and e.metric is Metric.PIECES_STREAMED]
    forwarded = {n: t for n, t in second.items() if n in first}
    assert forwarded and all(t.cid == "first" and t.path == "/peer/file/first" for t in forwarded.values())
    assert all(t.peer_port == 15001 for t in forwarded.values())
    assert [c.amount for c in counted] == [len(forwarded)]


def test_a_client_that_does_not_stream_is_no_source_while_fetching():
    core, first = crowd(first_streams=False)
    answer = pull_answer(core, "second", status=700, result=502)
    assert answer.code == R.PEER_WAIT or all(t.cid != "first" for t in answer.data)


def test_a_client_that_does_not_stream_is_given_no_fetcher_as_source():
    core, first = crowd(second_streams=False)
    answer = pull_answer(core, "second", status=700, result=502)
    assert answer.code == R.PEER_WAIT or all(t.cid != "first" for t in answer.data)


def test_a_client_that_uploads_nothing_streams_nothing_whatever_it_says():
    core, first = crowd(first_port=0)
    answer = pull_answer(core, "second", status=700, result=502)
    assert answer.code == R.PEER_WAIT or all(t.cid != "first" for t in answer.data)


def test_a_first_streaming_fetcher_wakes_the_held_pulls():
    from supernode.core.coordinator import PullQuery
    from supernode.core.effects import Wake

    core = coordinator(peer_down_limit=2, supernode_task_upload_limit=PIECES)
    register(core, "first", streams_pieces=True)
    register(core, "v1", streams_pieces=False)
    built(core)
    out = core.pull(PullQuery(task_id=T, src_cid="v1", status=700, result=502))
    assert out.answer.code == R.PEER_CONTINUE and Wake(T) not in out.effects  # no new source: it cannot forward
    out = core.pull(PullQuery(task_id=T, src_cid="first", status=700, result=502))
    assert out.answer.code == R.PEER_CONTINUE and Wake(T) in out.effects


def test_a_piece_that_failed_on_its_way_from_a_fetcher_black_lists_nobody():
    from supernode.core.coordinator import PullQuery

    core, first = crowd()
    second = pieces_of(pull_answer(core, "second", status=700, result=502))
    piece, task = next((n, t) for n, t in second.items() if t.cid == "first")
    state = core.state
    first_pid, second_pid = state.dfget(T, "first").peer_id, state.dfget(T, "second").peer_id
    core.pull(PullQuery(task_id=T, src_cid="second", dst_cid="first", range=task.range, status=701, result=500))
    assert not state.progress.black.get(second_pid)
    assert state.progress.peers[first_pid].service_error_count == 0
    assert state.progress.peers[second_pid].client_error_count == 0
    assert state.progress.clients[f"second@{T}"].bad_sources[piece] == {first_pid}  # not that one again


def test_raw_source_ranges_are_never_forwarded_early():
    from tests.unit.supernode.coreharness import ok_probe, registrant

    core = coordinator(peer_down_limit=PIECES, supernode_task_upload_limit=PIECES, cdn_pattern="source")
    out = core.register(registrant("first", streams_pieces=True), ok_probe())
    assert out.answer.code == 200
    assert not core.state.dfget(T, "first").streams_pieces
