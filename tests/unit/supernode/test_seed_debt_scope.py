"""The seed-debt rule (supernode.core.scheduler, super-seeding) spreads fresh pieces over a crowd
that is downloading now; it must not throttle a client nobody is downloading with, nor one that
can never forward a piece. Both got one piece per stall time: 20 pieces took 20 s on loopback
(`dfget -p cdn`, and any newcomer after the first client had finished)."""

from common.protocol.codes import DfgetTaskStatus
from common.protocol.codes import ResultCode as R
from tests.unit.supernode import coreharness as harness
from tests.unit.supernode.coreharness import coordinator, pid_of, pull, register

T = "t" * 64
PIECES = 20


def built(core):
    harness.built(core, T, PIECES)


def finished(core, cid):
    """What the 600 answer does to a client that has every piece."""
    core.state.dfget(T, cid).status = DfgetTaskStatus.SUCCESS


def test_a_newcomer_after_the_crowd_finished_is_not_held_back():
    core = coordinator(peer_down_limit=4, supernode_task_upload_limit=8)
    register(core, "first")
    built(core)
    finished(core, "first")
    del core.state.peers[pid_of(core, T, "first")]  # 'first' went away with its pieces
    register(core, "late")
    first_answer = pull(core, "late", status=700, result=502)
    assert first_answer.code == R.PEER_CONTINUE and len(first_answer.data) == 4


def test_a_client_that_never_uploads_is_not_held_back_by_a_crowd():
    core = coordinator(peer_down_limit=4, supernode_task_upload_limit=8)
    register(core, "uploader")
    register(core, "cdn-only", port=0)
    built(core)
    assert len(pull(core, "uploader", status=700, result=502).data) >= 1
    answer = pull(core, "cdn-only", status=700, result=502)
    assert answer.code == R.PEER_CONTINUE and len(answer.data) == 4


def test_the_crowd_is_counted_only_as_far_as_the_scheduler_asks():
    """`_crowd` stops at CROWD_SEEN (it ran over every client on every pull); finished clients
    and the supernode's own entry still do not count."""
    from supernode.core import pulling, scheduler

    core = coordinator(peer_down_limit=4, supernode_task_upload_limit=8)
    for cid in ("a", "b", "c", "d"):
        register(core, cid)
    built(core)
    assert pulling._crowd(core.state, T) == scheduler.CROWD_SEEN == 2
    for cid in ("a", "b", "c"):
        finished(core, cid)
    assert pulling._crowd(core.state, T) == 1
    finished(core, "d")
    assert pulling._crowd(core.state, T) == 0
