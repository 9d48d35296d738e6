from hypothesis import given
from hypothesis import strategies as st

from common.protocol.codes import PieceResult, TaskStatus
from common.protocol.messages import PieceTask
from dfget.core.plan import START, PieceBook

SIZE = 1 << 20


def task(num, cid="cdnnode:x"):
    return PieceTask(range=f"{num * SIZE}-{num * SIZE + SIZE - 1}", piece_num=num, piece_size=SIZE, cid=cid)


def test_starts_with_the_start_report():
    book = PieceBook()
    r = book.next_report()
    assert r == START and (r.status, r.result) == (TaskStatus.START, PieceResult.INVALID)
    assert book.next_report() is None


def test_new_pieces_are_fetched_once_and_marked_running():
    book = PieceBook()
    book.next_report()
    fetch = book.plan([task(0), task(1)])
    assert [t.piece_num for t in fetch] == [0, 1]
    assert set(book.running) == {t.range for t in fetch}
    assert book.plan([task(0)]) == []  # already running: not again
    assert book.next_report() is None


def test_success_reports_semisuc_and_done_pieces_are_re_reported_not_refetched():
    book = PieceBook()
    book.next_report()
    t = book.plan([task(0)])[0]
    book.succeeded(t.range, 0, t.cid)
    r = book.next_report()
    assert (r.status, r.result, r.range, r.dst_cid) == (TaskStatus.RUNNING, PieceResult.SEMISUC, t.range, t.cid)
    assert book.plan([task(0, "other")]) == []
    again = book.next_report()
    assert again.result == PieceResult.SEMISUC and again.dst_cid == "other" and not again.droppable


def test_soft_reports_are_merged_like_v1_but_failures_never():
    book = PieceBook()
    book.next_report()
    ts = book.plan([task(n) for n in range(4)])
    book.succeeded(ts[0].range, 0, ts[0].cid)  # 3 still running: SEMISUC dropped
    assert book.next_report() is None
    book.failed(ts[1].range, ts[1].cid)  # failures are always sent
    r = book.next_report()
    assert r.result == PieceResult.FAIL and r.range == ts[1].range
    book.succeeded(ts[2].range, 2, ts[2].cid)
    book.succeeded(ts[3].range, 3, ts[3].cid)
    r = book.next_report()  # the earlier one is dropped, the last is sent
    assert r.range == ts[3].range and book.next_report() is None


def test_a_piece_is_never_refetched_from_the_source_that_failed_it():
    book = PieceBook(max_refusals=2)
    book.next_report()
    t = book.plan([task(5, "bad")])[0]
    book.failed(t.range, "bad")
    book.next_report()
    for _ in range(2):
        assert book.plan([task(5, "bad")]) == []
        r = book.next_report()
        assert (r.result, r.dst_cid) == (PieceResult.FAIL, "bad")
        assert book.stuck() is None
    assert book.plan([task(5, "bad")]) == []
    assert book.stuck() == t.range
    assert [x.cid for x in book.plan([task(5, "good")])] == ["good"]  # another source is fine


def test_reset_and_restart():
    book = PieceBook()
    book.next_report()
    t = book.plan([task(0)])[0]
    book.succeeded(t.range, 0, t.cid)
    book.restart()
    assert book.next_report() == START and t.range in book.done
    book.reset()
    assert book.done == {} and book.running == {} and book.next_report() == START


@given(st.lists(st.tuples(st.integers(0, 9), st.sampled_from(["a", "b", "c"]), st.booleans()), max_size=60))
def test_book_invariants(events):
    """Whatever the supernode assigns and however fetches end, no range is both running and done,
    a done range is never fetched again, and nothing is fetched from a source that failed it."""
    book = PieceBook()
    fetched = []
    for num, cid, ok in events:
        for t in book.plan([task(num, cid)]):
            assert t.range not in book.done
            assert cid not in book.failed_from.get(t.range, set())
            fetched.append((t.range, cid))
            (book.succeeded(t.range, num, cid) if ok else book.failed(t.range, cid))
        assert not set(book.running) & set(book.done)
        while book.next_report():
            pass
    assert len(fetched) == len(set(fetched))


def test_the_supernode_is_retried_after_a_timeout_but_not_after_corrupt_bytes():
    cdn = "cdnnode:127.0.0.1~t"
    book = PieceBook()
    t = PieceTask(range="0-1048575", piece_num=0, piece_size=1048576, cid=cdn)
    assert book.plan([t]) == [t]
    book.failed(t.range, cdn)  # a busy uplink timed out: ask it again
    assert book.plan([t]) == [t]
    book.failed(t.range, cdn, corrupt=True)  # bad bytes: refused from now on
    assert book.plan([t]) == []
    peer = PieceTask(range="0-1048575", piece_num=0, piece_size=1048576, cid="10.0.0.2-1-1.0")
    book2 = PieceBook()
    book2.plan([peer])
    book2.failed(peer.range, peer.cid)  # a peer is ruled out on any failure
    assert book2.plan([peer]) == []


def test_a_piece_the_supernode_never_acknowledged_is_always_reported():
    book = PieceBook()
    assert book.next_report() == START
    ts = [
        PieceTask(range=f"{n * 1048576}-{n * 1048576 + 1048575}", piece_num=n, piece_size=1048576, cid="p")
        for n in range(5)
    ]
    book.plan(ts)
    book.succeeded(ts[0].range, 0, "p", acked=False)  # /peer/piece/suc failed three times
    book.succeeded(ts[1].range, 1, "p")  # acknowledged: may be merged away
    sent = []
    while (r := book.next_report()) is not None:
        sent.append(r.range)
    assert ts[0].range in sent and ts[1].range not in sent
