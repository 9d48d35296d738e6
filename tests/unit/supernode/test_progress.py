"""Reported outcomes (§5 UpdateProgress), reservations and load release (docs/decisions.md #2)."""

from common.protocol.codes import PieceStatus as S
from supernode.core.progress import ClientProgress, PeerState, Progress, TaskProgress


def world():
    p = Progress(super_pid="super")
    p.tasks["t"] = TaskProgress()
    p.clients["c@t"] = ClientProgress()
    p.peers.update(src=PeerState(), dst=PeerState())
    return p


def test_success_adds_holder_and_releases_peer_load():
    p = world()
    client = p.clients["c@t"]
    p.reserve("t", client, 3, "dst", now=1)
    assert p.peers["dst"].producer_load == 1 and client.bits.status(3) is S.RUNNING
    changed, released = p.record_outcome("t", "c@t", "src", "dst", 3, S.SUCCESS, now=2)
    assert changed and released
    assert p.tasks["t"].holders[3] == {"src"}
    assert p.peers["dst"].producer_load == 0 and 3 not in client.running
    assert p.served[("dst", "src")] == 1


def test_semisuc_then_success_releases_once_and_adds_holder_on_success_only():
    p = world()
    client = p.clients["c@t"]
    p.reserve("t", client, 0, "super", now=1)
    p.reserve("t", client, 1, "super", now=1)
    assert p.tasks["t"].super_load == 2
    p.record_outcome("t", "c@t", "src", "super", 0, S.SEMISUC, now=2)
    assert p.tasks["t"].super_load == 1 and not p.tasks["t"].holders
    changed, released = p.record_outcome("t", "c@t", "src", "super", 0, S.SUCCESS, now=3)
    assert (changed, released) == (False, False)
    assert p.tasks["t"].super_load == 1 and p.tasks["t"].holders[0] == {"src"}


def test_failure_releases_supernode_load_too():
    p = world()
    client = p.clients["c@t"]
    p.reserve("t", client, 0, "super", now=1)
    p.record_outcome("t", "c@t", "src", "super", 0, S.FAILED, now=2)
    assert p.tasks["t"].super_load == 0
    assert p.peers["src"].client_error_count == 0  # failures against the supernode do not count


def test_failure_between_peers_counts_and_black_lists():
    p = world()
    client = p.clients["c@t"]
    p.reserve("t", client, 2, "dst", now=1)
    p.record_outcome("t", "c@t", "src", "dst", 2, S.FAILED, now=2)
    assert p.black["src"]["dst"] == 1
    assert p.peers["src"].client_error_count == 1 and p.peers["dst"].service_error_count == 1
    assert client.bad_sources[2] == {"dst"} and client.bits.status(2) is S.FAILED
    p.reserve("t", client, 2, "super", now=3)
    p.record_outcome("t", "c@t", "src", "dst", 2, S.SEMISUC, now=4)
    assert p.peers["src"].client_error_count == 0 and p.peers["dst"].service_error_count == 0


def test_success_is_sticky_and_unchanged_report_stops():
    p = world()
    p.record_outcome("t", "c@t", "src", "dst", 1, S.SUCCESS, now=1)
    changed, _ = p.record_outcome("t", "c@t", "src", "dst", 1, S.FAILED, now=2)
    assert not changed and p.clients["c@t"].bits.is_success(1)
    assert p.peers["src"].client_error_count == 0 and "src" not in p.black


def test_non_uploading_reporter_never_becomes_holder():
    p = world()
    p.record_outcome("t", "c@t", "src", "", 0, S.SUCCESS, now=1, src_uploads=False)
    assert not p.tasks["t"].holders.get(0)


def test_forgetting_a_client_releases_its_reservations():
    p = world()
    client = p.clients["c@t"]
    p.reserve("t", client, 0, "dst", now=1)
    p.reserve("t", client, 1, "super", now=1)
    p.forget_client("t", "c@t", now=2)
    assert p.peers["dst"].producer_load == 0 and p.tasks["t"].super_load == 0


def test_forget_peer_cleans_every_index():
    p = world()
    p.tasks["t"].holders[0] = {"dst", "src"}
    p.black["src"] = {"dst": 2}
    p.forget_peer("dst")
    assert p.tasks["t"].holders[0] == {"src"} and p.black["src"] == {} and "dst" not in p.peers
