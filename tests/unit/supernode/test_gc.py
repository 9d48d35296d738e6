"""GC policy (docs/architecture.md#background-work, docs/decisions.md #6): task expiry, peer collection, LRU disk
eviction."""

from common.protocol.codes import CdnStatus
from supernode.cdn.core.contract import CdnResult, DiskEntry
from supernode.core import gc
from supernode.core.model import Limits, Peer, Task
from supernode.core.progress import PeerState
from tests.unit.supernode.coreharness import coordinator, register

L = Limits(task_expire_time=180, peer_gc_delay=180, young_gc_threshold=100, full_gc_threshold=10, clean_ratio=3)


def test_tasks_expire_after_idle_time_but_not_while_building():
    tasks = [
        Task("a", "u", "u", access_time=0),
        Task("b", "u", "u", access_time=50),
        Task("c", "u", "u", access_time=0, cdn_status=CdnStatus.RUNNING),
    ]
    assert gc.expired_tasks(tasks, 180, L) == ["a"]
    assert gc.expired_tasks(tasks, 230, L) == ["a", "b"]


def test_peer_gc():
    peers = [
        Peer("super", "1", "h", 8001),
        Peer("api", "1", "h", 0),
        Peer("alive", "1", "h", 15000),
        Peer("down-old", "1", "h", 15000),
        Peer("down-new", "1", "h", 15000),
    ]
    states = {
        "super": PeerState(),
        "alive": PeerState(),
        "down-old": PeerState(service_down_ms=1000),
        "down-new": PeerState(service_down_ms=100_000),
    }
    assert gc.collectable_peers(peers, states, "super", now=181, limits=L) == ["api", "down-old"]


def entries():
    return [
        DiskEntry("old", 5, access_time=10, interval=0),
        DiskEntry("mid", 5, access_time=20, interval=0),
        DiskEntry("new", 5, access_time=30, interval=0),
        DiskEntry("live", 5, access_time=0, interval=0),
    ]


def test_disk_gc_nothing_when_plenty_of_space():
    assert gc.disk_victims(entries(), {"live"}, free=101, limits=L) == []


def test_disk_gc_evicts_least_recently_used_first_never_in_memory():
    assert gc.disk_victims(entries(), {"live"}, free=50, limits=L) == ["old"]  # ceil(3 * 3 / 10) = 1
    ten = [DiskEntry(f"e{i}", 1, access_time=100 - i, interval=0) for i in range(10)]
    assert gc.disk_victims(ten, set(), free=50, limits=L) == ["e9", "e8", "e7"]


def test_full_gc_evicts_every_candidate():
    assert gc.disk_victims(entries(), {"live"}, free=10, limits=L) == ["old", "mid", "new"]


def test_task_gc_removes_clients_and_marks_their_peers_down():
    core = coordinator(task_expire_time=180, peer_gc_delay=180)
    register(core, "c1")
    pid = core.state.dfget("t" * 64, "c1").peer_id
    core.clock.advance(200)
    assert core.gc_tasks().answer == 0  # the build is still running
    core.on_done("t" * 64, CdnResult(success=False))
    out = core.gc_tasks()
    assert out.answer == 1 and not core.state.tasks and not core.state.dfget_tasks
    assert core.state.progress.peers[pid].down
    assert core.gc_peers().answer == 0
    core.clock.advance(180)
    assert core.gc_peers().answer == 1 and pid not in core.state.peers
    assert core.state.super_pid in core.state.peers


def test_unreachable_urls_are_forgotten_after_fail_access_interval():
    """Attack (issue 11 item 11): every registration of a new 404 URL left an entry in memory for
    good (it was dropped only if the same URL came back): a stream of random 404 URLs grew the
    supernode without bound. Task GC now drops entries older than failAccessInterval."""
    from supernode.core.coordinator import Probe
    from tests.unit.supernode.coreharness import registrant

    core = coordinator(fail_access_interval=180, task_expire_time=180)
    for i in range(50):
        core.register(registrant(f"c{i}", task_id=f"{i:064x}"), Probe(status=404))
    assert len(core.state.unreachable) == 50
    core.clock.advance(100)
    core.gc_tasks()
    assert len(core.state.unreachable) == 50  # still remembered inside the interval
    core.clock.advance(80)
    core.gc_tasks()
    assert core.state.unreachable == {}
    assert gc.expired_unreachable({"a": 0.0, "b": 50.0}, now=180.0, limits=Limits(fail_access_interval=180)) == ["a"]
