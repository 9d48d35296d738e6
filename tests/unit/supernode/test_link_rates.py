"""Link meters and the "slow peer" yardstick (docs/decisions.md #24)."""

import pytest

from common.protocol.codes import PieceStatus
from supernode.core.progress import (
    BEST_RATE_HALF_LIFE,
    METER_WINDOW,
    BestRate,
    ClientProgress,
    LinkMeter,
    PeerState,
    Progress,
    TaskProgress,
    is_slow,
)


def test_a_meter_reads_pieces_over_the_time_its_link_was_busy_not_per_transfer():
    m = LinkMeter()
    m.start(0.0)
    m.start(0.0)  # two transfers share the link
    m.stop(2.0, arrived=True)
    m.stop(2.0, arrived=True)
    assert m.rate(2.0) == pytest.approx(1.0)  # 2 pieces in 2 busy seconds
    m.start(10.0)  # idle time between transfers does not count
    m.stop(11.0, arrived=True)
    assert m.rate(11.0) == pytest.approx(1.0)


def test_a_failed_transfer_costs_time_but_moves_no_piece():
    m = LinkMeter()
    m.start(0.0)
    m.stop(4.0, arrived=False)
    assert m.rate(4.0) is None  # no evidence of a rate yet
    m.start(4.0)
    m.stop(6.0, arrived=True)
    assert m.rate(6.0) == pytest.approx(1 / 6)


def test_the_ceiling_counts_running_transfers_as_done_so_a_slow_first_transfer_shows():
    m = LinkMeter()
    m.start(0.0)
    assert m.ceiling(0.0) is None  # no time has passed: nothing to say
    assert m.ceiling(4.0) == pytest.approx(0.25)  # at best a piece in 4 s
    assert m.rate(4.0) is None


def test_a_meter_forgets_old_busy_time_by_halves():
    m = LinkMeter()
    m.start(0.0)
    m.stop(METER_WINDOW + 2, arrived=True)
    assert m.busy == pytest.approx((METER_WINDOW + 2) / 2) and m.pieces == pytest.approx(0.5)


def test_the_best_rate_halves_without_a_new_best():
    b = BestRate()
    b.note(2.0, 0.0)
    b.note(1.0, 1.0)  # not a new best: kept
    assert b.at(BEST_RATE_HALF_LIFE) == pytest.approx(1.0)
    b.note(None, 5.0)
    b.note(1.9, BEST_RATE_HALF_LIFE)  # better than the faded best: replaces it
    assert b.at(BEST_RATE_HALF_LIFE) == pytest.approx(1.9)


def test_slow_is_relative_to_the_task_and_unknown_is_never_slow():
    best = BestRate(rate=1.0, when=0.0)
    slow, fast = LinkMeter(), LinkMeter()
    for m, seconds in ((slow, 4.0), (fast, 1.0)):
        m.start(0.0)
        m.stop(seconds, arrived=True)
    assert is_slow(slow, best, 4.0) and not is_slow(fast, best, 4.0)
    assert not is_slow(LinkMeter(), best, 4.0) and not is_slow(None, best, 4.0)
    assert not is_slow(slow, BestRate(), 4.0)  # a crowd of equals: nobody is slow


def test_progress_meters_both_ends_of_every_transfer_and_keeps_the_tasks_best():
    progress = Progress("super")
    progress.tasks["t"] = TaskProgress()
    for pid in ("a", "b"):
        progress.peers[pid] = PeerState()
    client = ClientProgress()
    progress.clients["b@t"] = client
    progress.reserve("t", client, 0, "a", 0.0, client_pid="b")
    assert progress.peers["a"].uplink.active == 1 and progress.peers["b"].downlink.active == 1
    progress.record_outcome("t", "b@t", "b", "a", 0, PieceStatus.SUCCESS, 2.0)
    assert progress.peers["a"].uplink.rate(2.0) == pytest.approx(0.5)
    assert progress.peers["b"].downlink.rate(2.0) == pytest.approx(0.5)
    assert progress.tasks["t"].best_up.at(2.0) == pytest.approx(0.5)
    progress.reserve("t", client, 1, "super", 2.0, client_pid="b")  # from the supernode: only the client's side
    progress.record_outcome("t", "b@t", "b", "", 1, PieceStatus.SUCCESS, 3.0)
    assert progress.peers["b"].downlink.rate(3.0) == pytest.approx(2 / 3)
    assert progress.peers["a"].uplink.active == 0
