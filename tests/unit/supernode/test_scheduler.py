"""Scheduler properties (docs/architecture.md#scheduling-and-loads, docs/decisions.md #2, #5) over random states, plus
worked examples."""

import dataclasses
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.protocol.codes import PieceStatus
from supernode.core import scheduler
from supernode.core.model import Limits
from supernode.core.progress import ClientProgress, PeerState, TaskProgress

SUPER = "super"
SRC = "me"


@st.composite
def worlds(draw):
    n = draw(st.integers(1, 24))
    peers = [f"p{i}" for i in range(draw(st.integers(0, 8)))]
    limits = Limits(
        peer_up_limit=draw(st.integers(1, 4)),
        peer_down_limit=draw(st.integers(1, 6)),
        supernode_task_upload_limit=draw(st.integers(1, 5)),
        elimination_limit=draw(st.integers(1, 4)),
        failure_count_limit=draw(st.integers(1, 4)),
    )
    task, client = TaskProgress(), ClientProgress(streams=draw(st.booleans()))
    for p in range(n):
        if draw(st.booleans()):
            task.cdn.update(p, PieceStatus.SUCCESS)
        if peers and draw(st.integers(0, 2)) == 0:  # streaming clients fetching it (cut-through)
            task.streamers[p] = dict.fromkeys(draw(st.lists(st.sampled_from(peers), max_size=3)), 0.0)
        task.holders[p] = set(draw(st.lists(st.sampled_from(peers), max_size=4))) if peers else set()
        kind = draw(st.sampled_from(["none", "none", "done", "running", "failed"]))
        if kind == "done":
            client.bits.update(p, PieceStatus.SUCCESS)
        elif kind == "running":
            client.running[p] = draw(st.sampled_from(peers + [SUPER]))
            client.bits.update(p, PieceStatus.RUNNING)
        elif kind == "failed":
            client.bits.update(p, PieceStatus.FAILED)
        if kind == "none" and draw(st.integers(0, 3)) == 0:  # on its way to another client, not stalled
            task.in_flight[p] = task.super_in_flight[p] = 1
            task.super_started[p] = 0.0
        if peers and draw(st.booleans()):
            client.bad_sources[p] = set(draw(st.lists(st.sampled_from(peers), max_size=2)))
    states = {}
    for pid in peers + [SRC]:
        if pid != SRC and draw(st.integers(0, 9)) == 0:
            continue  # no peer state: stale holder
        states[pid] = PeerState(
            producer_load=draw(st.integers(0, 5)),
            client_error_count=draw(st.integers(0, 6)),
            service_error_count=draw(st.integers(0, 5)),
            service_down_ms=draw(st.sampled_from([0, 0, 0, 123])),
        )
    servable = {pid: draw(st.integers(0, 5)) > 0 for pid in peers}  # False: port 0 / no record
    black = {pid: 1 for pid in draw(st.lists(st.sampled_from(peers), max_size=2))} if peers else {}
    task.super_load = draw(st.integers(0, 5))
    view = scheduler.View(
        task=task,
        client=client,
        peers=states,
        black=black,
        servable=lambda pid: servable.get(pid, False),
        src_pid=SRC,
        super_pid=SUPER,
    )
    return view, limits, draw(st.integers(0, 2**32))


def eligible(view, limits, pid, piece) -> bool:
    state = view.peers.get(pid)
    return (
        state is not None
        and view.servable(pid)
        and not state.down
        and state.service_error_count < limits.elimination_limit
        and view.black.get(pid, 0) == 0
        and pid != SRC
        and pid not in view.client.bad_sources.get(piece, ())
    )


def may_serve_now(view, limits, pid, piece, plan=None) -> bool:
    """Eligible, with an upload slot free even after every assignment of `plan`."""
    taken = sum(1 for a in plan.assignments if a.source == pid) if plan else 0
    return eligible(view, limits, pid, piece) and view.peers[pid].producer_load + taken < limits.peer_up_limit


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_plan_invariants(world):
    view, limits, seed = world
    plan = scheduler.plan(view, limits, random.Random(seed))
    available = scheduler.available_pieces(view.task, view.client)
    pieces = [a.piece for a in plan.assignments]
    assert len(pieces) == len(set(pieces))
    for a in plan.assignments:
        assert a.piece in available  # CDN has it, client neither holds nor runs it
        assert not view.client.bits.is_success(a.piece) and a.piece not in view.client.running
        if a.source != SUPER:
            if a.streamed:  # a fetcher forwarding while it receives: only to a client that streams
                assert view.client.streams and a.source in view.task.streamers[a.piece]
                assert not [
                    pid for pid in view.task.holders[a.piece] if may_serve_now(view, limits, pid, a.piece, plan)
                ]
            else:
                assert a.source in view.task.holders[a.piece]
            assert eligible(view, limits, a.source, a.piece)  # never down / black-listed / port 0 / bad
    # up limit: reservations never push a peer over peerUpLimit
    for pid in {a.source for a in plan.assignments} - {SUPER}:
        extra = sum(1 for a in plan.assignments if a.source == pid)
        assert view.peers[pid].producer_load + extra <= limits.peer_up_limit
    # supernode's own per-task limit, and the client's down limit
    supers = sum(1 for a in plan.assignments if a.source == SUPER)
    assert supers == 0 or view.task.super_load + supers <= limits.supernode_task_upload_limit
    assert len(view.client.running) + len(plan.assignments) <= max(limits.peer_down_limit, len(view.client.running))
    if len(view.client.running) >= limits.peer_down_limit:
        assert not plan.assignments
    # self-isolation
    if view.peers[SRC].client_error_count > limits.failure_count_limit:
        assert all(a.source == SUPER for a in plan.assignments)
    # drops only ever name holders that can never serve
    for _piece, pid in plan.drops:
        state = view.peers.get(pid)
        assert (
            state is None
            or not view.servable(pid)
            or state.down
            or state.service_error_count >= limits.elimination_limit
        )


@settings(max_examples=120, deadline=None)
@given(worlds())
def test_assignments_follow_rarest_then_nearest_order(world):
    view, limits, seed = world
    plan = scheduler.plan(view, limits, random.Random(seed))
    running = list(view.client.running)
    center = sum(running) // len(running) if running else 0
    keys = [
        (len(view.task.holders.get(a.piece, ())) + view.task.in_flight.get(a.piece, 0), abs(a.piece - center))
        for a in plan.assignments
    ]
    assert keys == sorted(keys)


@settings(max_examples=120, deadline=None)
@given(worlds())
def test_wait_only_when_nothing_can_be_fetched(world):
    view, limits, seed = world
    plan = scheduler.plan(view, limits, random.Random(seed))
    available = scheduler.available_pieces(view.task, view.client)
    if not plan.wait or not available:
        return
    isolated = view.peers[SRC].client_error_count > limits.failure_count_limit
    if isolated:
        assert view.task.super_load >= limits.supernode_task_upload_limit
        return
    for piece in available:
        usable = [pid for pid in view.task.holders[piece] if eligible(view, limits, pid, piece)]
        # every usable holder is at its upload limit: wait for a slot (never a supernode copy)
        assert all(view.peers[pid].producer_load + 1 > limits.peer_up_limit for pid in usable)
        if view.client.streams:  # and so is every fetcher that could forward it
            assert not [pid for pid in view.task.streamers.get(piece, ()) if may_serve_now(view, limits, pid, piece)]
        if not usable and not view.task.super_in_flight.get(piece):
            # a fresh piece: only the supernode's own limit keeps it back
            assert view.task.super_load >= limits.supernode_task_upload_limit


@settings(max_examples=120, deadline=None)
@given(worlds())
def test_the_supernode_sends_a_piece_others_could_get_from_a_peer_never(world):
    """Super-seeding: the supernode serves only pieces no usable holder has, and a second copy of a
    piece already on its way from it only once that fetch has stalled."""
    view, limits, seed = world
    if view.peers[SRC].client_error_count > limits.failure_count_limit:
        return
    plan = scheduler.plan(view, limits, random.Random(seed))
    for a in plan.assignments:
        if a.source != SUPER:
            continue
        assert not [pid for pid in view.task.holders[a.piece] if eligible(view, limits, pid, a.piece)]
        assert not view.task.super_in_flight.get(a.piece)  # nothing is stalled in these worlds
        if view.client.streams:
            assert not [
                pid for pid in view.task.streamers.get(a.piece, ()) if may_serve_now(view, limits, pid, a.piece, plan)
            ]


@settings(max_examples=80, deadline=None)
@given(worlds())
def test_plan_does_not_mutate(world):
    view, limits, seed = world
    before = (
        view.task.super_load,
        {p: set(h) for p, h in view.task.holders.items()},
        dict(view.client.running),
        {p: (s.producer_load, s.client_error_count) for p, s in view.peers.items()},
    )
    scheduler.plan(view, limits, random.Random(seed))
    after = (
        view.task.super_load,
        {p: set(h) for p, h in view.task.holders.items()},
        dict(view.client.running),
        {p: (s.producer_load, s.client_error_count) for p, s in view.peers.items()},
    )
    assert before == after


# ---- worked examples ----------------------------------------------------------------------------


def simple_view(n=8, holders=None, running=None, states=None, **limits):
    task, client = TaskProgress(), ClientProgress()
    for p in range(n):
        task.cdn.update(p, PieceStatus.SUCCESS)
    task.holders = {p: set(h) for p, h in (holders or {}).items()}
    client.running = dict(running or {})
    peer_states = {SRC: PeerState()}
    peer_states.update(states or {})
    view = scheduler.View(
        task=task, client=client, peers=peer_states, black={}, servable=lambda pid: True, src_pid=SRC, super_pid=SUPER
    )
    return view, Limits(**limits)


def test_rarest_first():
    view, limits = simple_view(
        4,
        holders={0: {"a", "b"}, 1: {"a"}, 2: set(), 3: {"a", "b"}},
        states={"a": PeerState(), "b": PeerState()},
        peer_down_limit=4,
    )
    plan = scheduler.plan(view, limits, random.Random(1))
    assert [a.piece for a in plan.assignments][:2] == [2, 1]


def test_nearest_to_the_centre_of_running_pieces():
    view, limits = simple_view(20, running={9: SUPER, 11: SUPER}, peer_down_limit=5)
    order = scheduler.order_pieces(
        scheduler.available_pieces(view.task, view.client), {}, view.client.running, random.Random(3)
    )
    assert order[0] == 10 and set(order[1:3]) == {8, 12} and set(order[3:5]) == {7, 13}


def test_limited_when_client_runs_its_limit():
    view, limits = simple_view(8, running={0: SUPER, 1: SUPER}, peer_down_limit=2)
    assert scheduler.plan(view, limits, random.Random(1)).limited


def test_supernode_limit_then_wait():
    view, limits = simple_view(8, supernode_task_upload_limit=3, peer_down_limit=8)
    plan = scheduler.plan(view, limits, random.Random(1))
    assert len(plan.assignments) == 3 and all(a.source == SUPER for a in plan.assignments)
    view.task.super_load = 3
    assert scheduler.plan(view, limits, random.Random(1)).wait


def test_self_isolation_uses_only_the_supernode():
    view, limits = simple_view(
        4,
        holders={p: {"a"} for p in range(4)},
        states={"a": PeerState(), SRC: PeerState(client_error_count=6)},
        failure_count_limit=5,
    )
    plan = scheduler.plan(view, limits, random.Random(1))
    assert plan.assignments and all(a.source == SUPER for a in plan.assignments)
    view.peers[SRC].client_error_count = 5  # not above the limit: peers again
    plan = scheduler.plan(view, limits, random.Random(1))
    assert any(a.source == "a" for a in plan.assignments)


def test_holder_walk_drops_down_and_eliminated_waits_for_a_busy_holder():
    view, limits = simple_view(
        1,
        holders={0: {"down", "bad", "busy", "gone"}},
        states={
            "down": PeerState(service_down_ms=5),
            "bad": PeerState(service_error_count=5),
            "busy": PeerState(producer_load=5),
        },
    )
    plan = scheduler.plan(view, limits, random.Random(1))
    assert plan.wait  # "busy" will have a free slot soon: no supernode copy
    assert set(plan.drops) == {(0, "down"), (0, "bad"), (0, "gone")}
    view.peers["busy"].producer_load = 4
    assert scheduler.plan(view, limits, random.Random(1)).assignments[0].source == "busy"


def test_holders_this_client_cannot_use_make_the_piece_fresh_for_it():
    view, limits = simple_view(1, holders={0: {"a"}}, states={"a": PeerState()})
    view.client.bad_sources[0] = {"a"}
    assert scheduler.plan(view, limits, random.Random(1)).assignments[0].source == SUPER


def test_pieces_in_flight_count_as_rarity_so_a_crowd_spreads_out():
    view, limits = simple_view(8, peer_down_limit=2)
    for piece in (0, 1):
        view.task.in_flight[piece] = view.task.super_in_flight[piece] = 1
    plan = scheduler.plan(view, limits, random.Random(1))
    assert {a.piece for a in plan.assignments}.isdisjoint({0, 1})


def test_a_piece_on_its_way_from_the_supernode_is_sent_again_only_when_its_fetch_stalls():
    view, limits = simple_view(1, peer_down_limit=4)
    view.task.in_flight[0] = view.task.super_in_flight[0] = 1
    view.task.super_started[0] = 100.0
    view.task.super_piece_seconds = 2.0  # supernode pieces take 2 s: stalled after 6 s
    view = dataclasses.replace(view, now=104.0)
    plan = scheduler.plan(view, limits, random.Random(1))
    assert plan.wait and plan.recheck_after == pytest.approx(2.0)
    view = dataclasses.replace(view, now=106.5)
    assert [(a.piece, a.source) for a in scheduler.plan(view, limits, random.Random(1)).assignments] == [(0, SUPER)]


def test_before_any_supernode_piece_arrived_a_fetch_stalls_after_the_default():
    view, limits = simple_view(1)
    view.task.in_flight[0] = view.task.super_in_flight[0] = 1
    view.task.super_started[0] = 0.0
    assert scheduler.plan(dataclasses.replace(view, now=scheduler.STALL_DEFAULT - 1), limits, random.Random(1)).wait
    assert scheduler.plan(
        dataclasses.replace(view, now=scheduler.STALL_DEFAULT + 1), limits, random.Random(1)
    ).assignments


def test_a_flash_crowd_takes_each_piece_from_the_supernode_once():
    """Eight clients ask in turn while nothing has arrived yet: the supernode hands out distinct
    pieces up to its limit, then everyone waits for peers."""
    view, limits = simple_view(16, supernode_task_upload_limit=4, peer_down_limit=4)
    sent = []
    for client in range(8):
        v = dataclasses.replace(view, client=ClientProgress(), src_pid=f"c{client}")
        plan = scheduler.plan(v, limits, random.Random(client))
        for a in plan.assignments:
            assert a.source == SUPER
            view.task.count_flight(a.piece, True, +1)
            view.task.super_started[a.piece] = 0.0
            view.task.super_load += 1
            sent.append(a.piece)
    assert len(sent) == 4 and len(set(sent)) == 4


def test_supernode_fan_out_follows_its_bandwidth_unless_set():
    from supernode import settings
    from supernode.core.model import Limits, auto_fan_out

    assert auto_fan_out(1 << 20, 0) == 2  # a slow uplink: few pieces at once
    assert auto_fan_out(20 << 20, 0) == 10
    assert auto_fan_out(10 << 30, 0) == 64
    assert (
        Limits.from_settings(
            settings.defaults(max_bandwidth="9M", system_reserved_bandwidth="1M")
        ).supernode_task_upload_limit
        == 4
    )
    assert Limits.from_settings(settings.defaults(supernode_task_upload_limit=7)).supernode_task_upload_limit == 7


def test_fresh_pieces_are_spread_over_the_crowd():
    """A client that owes the crowd a piece from the supernode gets no other fresh piece until
    someone starts fetching that one from it; a lone client is never held back."""
    from supernode.core.progress import Progress

    view, limits = simple_view(16, supernode_task_upload_limit=8, peer_down_limit=4)
    progress = Progress(SUPER)
    progress.tasks["t"] = view.task
    clients = {c: ClientProgress() for c in ("c0", "c1", "c2")}

    def ask(c, now=0.0, crowd=3):
        v = dataclasses.replace(view, client=clients[c], src_pid=c, crowd=crowd, now=now)
        plan = scheduler.plan(v, limits, random.Random(1))
        for a in plan.assignments:
            progress.reserve("t", clients[c], a.piece, a.source, now, client_pid=c)
        return plan

    first = {c: [a.piece for a in ask(c).assignments] for c in clients}
    assert all(len(p) == 1 for p in first.values()) and len({p[0] for p in first.values()}) == 3
    again = ask("c0")
    assert again.wait and again.recheck_after == pytest.approx(scheduler.STALL_DEFAULT)
    # c1 starts fetching c0's piece from c0: c0 has paid its debt and may seed another piece
    view.task.holders[first["c0"][0]] = {"c0"}
    progress.peers["c0"] = PeerState()
    progress.reserve("t", clients["c1"], first["c0"][0], "c0", 0.0, client_pid="c1")
    assert [a.source for a in ask("c0").assignments] == [SUPER]
    lone = ClientProgress()
    clients["alone"] = lone
    assert len(ask("alone", crowd=1).assignments) == 4


# ---- mixed bandwidth and the supernode's idle time (docs/decisions.md #24) ----------------------


def _metered(seconds: float) -> PeerState:
    """A peer whose links moved one piece in `seconds` both ways."""
    state = PeerState()
    for meter in (state.uplink, state.downlink):
        meter.start(0.0)
        meter.stop(seconds, arrived=True)
    return state


def _with_best(view, rate=1.0, now=10.0):
    view.task.best_up.note(rate, now)
    view.task.best_down.note(rate, now)
    return dataclasses.replace(view, now=now, crowd=8)


def test_a_slow_client_gets_no_fresh_piece_while_others_download_the_task():
    view, limits = simple_view(4, states={SRC: _metered(8.0)}, peer_down_limit=4)
    view = _with_best(view)
    view.task.super_load = 1  # another client's fresh piece is on its way from the supernode
    assert scheduler.plan(view, limits, random.Random(1)).wait
    fast = dataclasses.replace(view, peers={SRC: _metered(1.0)})
    assert [a.source for a in scheduler.plan(fast, limits, random.Random(1)).assignments] == [SUPER]
    alone = dataclasses.replace(view, crowd=1)
    assert scheduler.plan(alone, limits, random.Random(1)).assignments


def test_a_slow_client_gets_a_fresh_piece_rather_than_leave_the_supernode_idle():
    """Every client asking may be slow against a rate one of them reached in a burst: holding
    them all back idled a restarted crowd for 80 s (until the best rate aged out)."""
    view, limits = simple_view(4, states={SRC: _metered(8.0)}, peer_down_limit=4)
    view = _with_best(view)
    assert view.task.super_load == 0
    assert [a.source for a in scheduler.plan(view, limits, random.Random(1)).assignments] == [SUPER]


def test_a_client_with_a_piece_running_far_longer_than_a_piece_time_counts_as_slow():
    view, limits = simple_view(4, peer_down_limit=4)
    view = _with_best(view)
    view.task.super_load = 1
    view.client.running[3] = "x"
    view.client.started[3] = view.now - scheduler.CONGESTED_PIECE_TIMES - 1
    assert scheduler.plan(view, limits, random.Random(1)).wait


def test_a_fast_client_takes_a_fast_holder_over_a_slow_one():
    states = {SRC: _metered(1.0), "slow": _metered(8.0), "fast": _metered(1.0)}
    view, limits = simple_view(1, holders={0: {"slow", "fast"}}, states=states)
    view = _with_best(view)
    for seed in range(20):
        assert [a.source for a in scheduler.plan(view, limits, random.Random(seed)).assignments] == ["fast"]


def test_a_fast_client_waits_for_a_busy_fast_holder_rather_than_take_a_slow_one():
    states = {SRC: _metered(1.0), "slow": _metered(8.0), "fast": _metered(1.0)}
    states["fast"].producer_load = 5
    view, limits = simple_view(1, holders={0: {"slow", "fast"}}, states=states, peer_up_limit=5)
    assert scheduler.plan(_with_best(view), limits, random.Random(1)).wait


def test_a_piece_only_slow_peers_hold_goes_to_one_fast_client_at_a_time():
    states = {SRC: _metered(1.0), "slow": _metered(8.0)}
    view, limits = simple_view(1, holders={0: {"slow"}}, states=states)
    view = _with_best(view)
    assert [a.source for a in scheduler.plan(view, limits, random.Random(1)).assignments] == ["slow"]
    view.task.in_flight[0] = 1  # another client is fetching it already: wait for that copy
    assert scheduler.plan(view, limits, random.Random(1)).wait
    slow_client = dataclasses.replace(view, peers={**states, SRC: _metered(8.0)})
    assert [a.source for a in scheduler.plan(slow_client, limits, random.Random(1)).assignments] == ["slow"]


def test_seed_debt_never_leaves_the_supernode_idle():
    view, limits = simple_view(4, supernode_task_upload_limit=4, peer_down_limit=4)
    view = dataclasses.replace(view, crowd=8, now=1.0)
    view.task.unforwarded[SRC] = {9: 0.5}  # owes the crowd a piece
    plan = scheduler.plan(view, limits, random.Random(1))
    assert [a.source for a in plan.assignments] == [SUPER]  # the supernode had nothing on its way
    view.task.super_load = 1
    view.task.super_in_flight[7] = 1
    view.task.super_started[7] = 1.0
    assert scheduler.plan(view, limits, random.Random(1)).wait


def test_a_stalled_supernode_fetch_does_not_count_against_its_fan_out():
    view, limits = simple_view(2, supernode_task_upload_limit=1, peer_down_limit=4)
    view.task.super_load = 1
    view.task.in_flight[1] = view.task.super_in_flight[1] = 1
    view.task.super_started[1] = 0.0
    view.task.super_piece_seconds = 1.0  # stalled after 3 s
    assert scheduler.plan(dataclasses.replace(view, now=2.0), limits, random.Random(1)).wait
    plan = scheduler.plan(dataclasses.replace(view, now=4.0), limits, random.Random(1))
    assert (0, SUPER) in [(a.piece, a.source) for a in plan.assignments]


# ---- cut-through: fetchers as sources (docs/decisions.md #25) ------------------------------------


def streaming_view(n=1, **limits):
    view, lim = simple_view(n, **limits)
    return dataclasses.replace(view, client=ClientProgress(streams=True)), lim


def test_a_piece_on_its_way_from_the_supernode_is_forwarded_by_its_fetcher():
    view, limits = streaming_view(1)
    view.task.in_flight[0] = view.task.super_in_flight[0] = 1
    view.task.super_started[0] = 0.0
    view.task.streamers[0] = {"a": 0.0}
    view.peers["a"] = PeerState()
    plan = scheduler.plan(view, limits, random.Random(1))
    assert [(a.piece, a.source, a.streamed) for a in plan.assignments] == [(0, "a", True)]


def test_a_client_that_cannot_stream_waits_for_the_copy_as_before():
    view, limits = streaming_view(1)
    view = dataclasses.replace(view, client=ClientProgress(streams=False))
    view.task.in_flight[0] = view.task.super_in_flight[0] = 1
    view.task.streamers[0] = {"a": 0.0}
    view.peers["a"] = PeerState()
    assert scheduler.plan(view, limits, random.Random(1)).wait


def test_a_free_holder_comes_before_a_fetcher():
    view, limits = streaming_view(1)
    view.task.holders[0] = {"h"}
    view.task.streamers[0] = {"a": 0.0}
    view.peers.update(h=PeerState(producer_load=3), a=PeerState())
    assert scheduler.plan(view, limits, random.Random(1)).assignments[0] == scheduler.Assignment(0, "h")


def test_a_fetcher_comes_before_waiting_for_a_busy_holder():
    view, limits = streaming_view(1, peer_up_limit=2)
    view.task.holders[0] = {"h"}
    view.task.streamers[0] = {"a": 0.0}
    view.peers.update(h=PeerState(producer_load=2), a=PeerState())
    assert scheduler.plan(view, limits, random.Random(1)).assignments[0] == scheduler.Assignment(0, "a", True)


def test_the_fetcher_with_the_fewest_uploads_forwards_so_that_a_chain_forms():
    view, limits = streaming_view(1)
    view.task.in_flight[0] = view.task.super_in_flight[0] = 1
    view.task.streamers[0] = {"a": 0.0, "b": 0.0, "c": 0.0}
    view.peers.update(a=PeerState(producer_load=2), b=PeerState(producer_load=0), c=PeerState(producer_load=1))
    for seed in range(5):
        assert scheduler.plan(view, limits, random.Random(seed)).assignments[0].source == "b"


def test_no_fetcher_that_is_busy_stalled_excluded_or_the_client_itself():
    view, limits = streaming_view(1, peer_up_limit=2)
    view.task.in_flight[0] = view.task.super_in_flight[0] = 1
    view.task.super_started[0] = 9.0
    view.task.super_piece_seconds = 1.0  # stalled after 3 s
    view.task.streamers[0] = {"busy": 9.0, "old": 5.0, "black": 9.0, "bad": 9.0, SRC: 9.0, "down": 9.0}
    view.peers.update(
        busy=PeerState(producer_load=2),
        old=PeerState(),
        black=PeerState(),
        bad=PeerState(),
        down=PeerState(service_down_ms=1),
    )
    view.client.bad_sources[0] = {"bad"}
    view = dataclasses.replace(view, now=10.0, black={"black": 1})
    plan = scheduler.plan(view, limits, random.Random(1))
    assert plan.wait and not plan.drops  # fetchers are never dropped as holders
    view.peers["busy"].producer_load = 1
    assert scheduler.plan(view, limits, random.Random(1)).assignments == (scheduler.Assignment(0, "busy", True),)


def test_every_piece_leaves_the_supernode_once_when_fetchers_forward():
    """A crowd that streams: the first client of each piece takes it from the supernode, everyone
    after it from a fetcher or holder, so the supernode sends the file once."""
    from supernode.core.progress import Progress

    n, clients = 6, [f"c{i}" for i in range(6)]
    progress = Progress(super_pid=SUPER)
    progress.tasks["t"] = task = TaskProgress()
    for p in range(n):
        task.cdn.update(p, PieceStatus.SUCCESS)
    for c in clients:
        progress.peers[c] = PeerState()
        progress.clients[c] = ClientProgress(streams=True)
    limits = Limits(peer_up_limit=2, peer_down_limit=2, supernode_task_upload_limit=2)
    rng, from_super = random.Random(7), 0
    for _round in range(40):
        for c in clients:
            client = progress.clients[c]
            view = scheduler.View(
                task=task,
                client=client,
                peers=progress.peers,
                black={},
                servable=lambda pid: True,
                src_pid=c,
                super_pid=SUPER,
                now=float(_round),
                crowd=2,
            )
            for a in scheduler.plan(view, limits, rng).assignments:
                from_super += a.source == SUPER
                progress.reserve("t", client, a.piece, a.source, float(_round), client_pid=c, streamed=a.streamed)
        for c in clients:  # every piece fetched from a holder or the supernode arrives by the next round
            client = progress.clients[c]
            for piece, source in list(client.running.items()):
                if piece not in client.streamed:
                    progress.record_outcome("t", c, c, source, piece, PieceStatus.SUCCESS, float(_round))
        for c in clients:  # a streamed piece arrives once its source has it
            client = progress.clients[c]
            for piece, source in list(client.running.items()):
                if piece in client.streamed and progress.clients[source].bits.is_success(piece):
                    progress.record_outcome("t", c, c, source, piece, PieceStatus.SUCCESS, float(_round))
    assert all(progress.clients[c].bits.success_count() == n for c in clients)
    assert from_super == n
    assert not task.streamers and all(s.producer_load == 0 for s in progress.peers.values())


def test_a_streamed_transfer_counts_in_both_link_meters_and_its_fetcher_is_forgotten():
    """A meter reads a link's rate while busy: a transfer it missed would make the others that
    shared the link read as a slow link."""
    from supernode.core.progress import Progress

    progress = Progress(super_pid=SUPER)
    progress.tasks["t"] = TaskProgress()
    progress.peers.update(a=PeerState(), b=PeerState())
    client = ClientProgress(streams=True)
    progress.reserve("t", client, 0, "a", 1.0, client_pid="b", streamed=True)
    assert progress.peers["a"].producer_load == 1 and progress.tasks["t"].streamers == {0: {"b": 1.0}}
    assert progress.peers["a"].uplink.active == 1 and progress.peers["b"].downlink.active == 1
    progress.release("t", client, 0, 3.0, arrived=True, client_pid="b")
    assert progress.peers["a"].producer_load == 0 and not progress.tasks["t"].streamers and not client.streamed
    assert progress.peers["a"].uplink.rate(3.0) == progress.peers["b"].downlink.rate(3.0) == 0.5


def test_a_fast_client_streams_from_no_fetcher_whose_download_is_slow():
    """What a fetcher forwards while it arrives goes no faster than its own download of it."""
    from supernode.core.progress import BestRate, LinkMeter

    view, limits = streaming_view(1)
    view.task.in_flight[0] = view.task.super_in_flight[0] = 1
    view.task.streamers[0] = {"slow": 0.0}
    view.task.best_down = BestRate(rate=1.0, when=10.0)  # a piece a second
    view.peers["slow"] = PeerState(downlink=LinkMeter(busy=8.0, pieces=2.0))  # a piece in 4 s
    view = dataclasses.replace(view, now=10.0)
    assert scheduler.plan(view, limits, random.Random(1)).wait
    view.peers["slow"].downlink = LinkMeter(busy=2.0, pieces=2.0)
    assert scheduler.plan(view, limits, random.Random(1)).assignments == (scheduler.Assignment(0, "slow", True),)


def test_a_client_fetching_a_fresh_piece_from_the_supernode_takes_nothing_else_meanwhile():
    """It heads that piece's chain: its downlink carries the supernode's piece at full rate."""
    view, limits = streaming_view(4)
    view.task.holders = {1: {"h"}, 2: {"h"}}
    view.peers["h"] = PeerState()
    view.task.super_piece_seconds = 1.0  # a supernode fetch stalls after 3 s
    view.client.running[0] = SUPER
    view.client.started[0] = 9.0
    view = dataclasses.replace(view, now=10.0, crowd=scheduler.CROWD_SEEN)
    plan = scheduler.plan(view, limits, random.Random(1))
    assert plan.wait and plan.recheck_after == pytest.approx(2.0)
    stalled = dataclasses.replace(view, now=12.5)
    assert scheduler.plan(stalled, limits, random.Random(1)).assignments  # a stalled fetch heads nothing
    alone = dataclasses.replace(view, crowd=1)
    assert scheduler.plan(alone, limits, random.Random(1)).assignments  # nobody to forward to
    v1 = dataclasses.replace(view, client=dataclasses.replace(view.client, streams=False))
    assert scheduler.plan(v1, limits, random.Random(1)).assignments  # it forwards nothing while it arrives
