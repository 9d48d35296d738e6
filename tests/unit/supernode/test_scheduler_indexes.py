"""The scheduler's incremental indexes (issue 13) change its cost, never its decisions.

* `Progress.at_limit` is exactly the set of peers at their upload limit, whatever sequence of
  reservations, outcomes and departures happened;
* a plan made with that index (and the copy-free set algebra of PieceBits) equals, for the same
  seeded rng, the plan made by looking at every peer.
"""

import dataclasses
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from common.protocol.codes import PieceStatus
from supernode.core import scheduler
from supernode.core.model import Limits
from supernode.core.progress import ClientProgress, PeerState, Progress, TaskProgress
from tests.unit.supernode.test_scheduler import SRC, SUPER, worlds


def _indexed(view, limits):
    return dataclasses.replace(
        view, at_limit={pid for pid, s in view.peers.items() if s.producer_load >= limits.peer_up_limit}
    )


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_a_plan_with_the_at_limit_index_is_the_plan_without_it(world):
    view, limits, seed = world
    indexed = _indexed(view, limits)
    assert scheduler.plan(indexed, limits, random.Random(seed)) == scheduler.plan(view, limits, random.Random(seed))


def test_long_walks_over_busy_holders_decide_alike():
    """40 pieces, holders mostly at their limit: the walk passes 16 pieces and uses the busy set."""
    rng = random.Random(5)
    limits = Limits(peer_up_limit=2, peer_down_limit=4, supernode_task_upload_limit=3)
    for trial in range(200):
        task, client = TaskProgress(), ClientProgress()
        peers = {f"p{i}": PeerState(producer_load=rng.choice([0, 2, 2, 2, 3])) for i in range(30)}
        peers[SRC] = PeerState()
        for p in range(40):
            task.cdn.update(p, PieceStatus.SUCCESS)
            task.holders[p] = set(rng.sample(sorted(peers.keys() - {SRC}), rng.randint(0, 4)))
        task.super_load = rng.randint(0, 3)
        view = scheduler.View(
            task=task,
            client=client,
            peers=peers,
            black={},
            servable=lambda pid: True,
            src_pid=SRC,
            super_pid=SUPER,
            crowd=rng.randint(1, 3),
        )
        indexed = _indexed(view, limits)
        assert scheduler.plan(indexed, limits, random.Random(trial)) == scheduler.plan(
            view, limits, random.Random(trial)
        )


OPS = st.lists(
    st.tuples(
        st.sampled_from(["reserve", "success", "fail", "forget_client", "forget_peer"]),
        st.integers(0, 3),
        st.integers(0, 5),
        st.sampled_from(["a", "b", "c", SUPER]),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(OPS)
def test_the_at_limit_index_is_exactly_the_peers_at_their_limit(ops):
    progress = Progress(super_pid=SUPER)
    progress.tasks["t"] = TaskProgress()
    for pid in ("a", "b", "c", SUPER):
        progress.peers[pid] = PeerState()
    progress.track_up_limit(2)
    clients = {}
    for op, c, piece, source in ops:
        key = f"c{c}@t"
        client = clients.setdefault(key, progress.clients.setdefault(key, ClientProgress()))
        if op == "reserve" and piece not in client.running and source in progress.peers:
            progress.reserve("t", client, piece, source, 0.0, client_pid=f"c{c}")
        elif op in ("success", "fail") and key in progress.clients:
            status = PieceStatus.SUCCESS if op == "success" else PieceStatus.FAILED
            progress.record_outcome("t", key, f"c{c}", "", piece, status, 1.0)
        elif op == "forget_client":
            progress.forget_client("t", key, 2.0, client_pid=f"c{c}")
            clients.pop(key, None)
        elif op == "forget_peer" and source != SUPER:
            progress.forget_peer(source)
        assert progress.at_limit == {pid for pid, s in progress.peers.items() if s.producer_load >= 2}
