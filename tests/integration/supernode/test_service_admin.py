"""Service down, delete, GC, management API, metrics report, repair."""

import pytest

from common.errors import BadInput
from common.protocol.codes import ResultCode as R
from common.protocol.messages import PieceErrorRequest, ServiceDownRequest, TaskMetricsRequest
from common.protocol.rest_messages import ApiPieceErrorRequest, PeerCreateRequest
from supernode.cdn.core.contract import DiskEntry
from supernode.errors import NotFound


def test_service_down(harness):
    task_id = harness.register("a").data.task_id
    harness.download("a", task_id)
    assert harness.service.service_down(ServiceDownRequest(task_id=task_id, cid="a")).code == R.GET_PEER_DOWN
    with pytest.raises(NotFound):
        harness.service.service_down(ServiceDownRequest(task_id=task_id, cid="ghost"))
    harness.register("b")
    assert all(p.cid.startswith("cdnnode:") for p in harness.pull("b", task_id, status=700).data)


def test_delete_task(harness):
    task_id = harness.register("a").data.task_id
    assert harness.service.is_servable(task_id)
    assert harness.service.get_task(task_id).cdn_status == "SUCCESS"
    harness.service.delete_task(task_id, full=True)
    assert not harness.service.is_servable(task_id)
    assert harness.cdn.forgotten == [task_id] and harness.cdn.deleted == [task_id]
    with pytest.raises(NotFound):
        harness.service.get_task(task_id)
    assert harness.pull("a", task_id, status=700).code == R.TARGET_NOT_FOUND
    harness.service.delete_task("nope", full=False)  # always fine


def test_gc_tasks_then_peers(harness):
    task_id = harness.register("a").data.task_id
    harness.clock.advance(181)
    assert harness.service.gc_tasks() == 1
    assert harness.service.list_tasks() == []
    assert harness.service.gc_peers() == 0
    harness.clock.advance(181)
    assert harness.service.gc_peers() == 1
    assert len(harness.service.list_peers(0, 0, False)) == 1  # only the supernode itself
    assert harness.sample("dragonfly_supernode_gc_tasks_total") == 1
    assert harness.sample("dragonfly_supernode_gc_peers_total") == 1
    assert harness.cdn.forgotten == [task_id]


def test_gc_disk_evicts_lru_files_of_tasks_not_in_memory(harness):
    live = harness.register("a").data.task_id
    harness.cdn.disk = [DiskEntry(live, 10, 1, 0), DiskEntry("old", 10, 2, 0), DiskEntry("new", 10, 3, 0)]
    assert harness.service.gc_disk() == 0  # plenty of space
    harness.cdn.free = 1
    assert harness.service.gc_disk() == 2  # below fullGCThreshold: every idle file
    assert harness.cdn.deleted == ["old", "new"]
    assert harness.sample("dragonfly_supernode_gc_disks_total") == 2


def test_peers_api(harness):
    harness.clock.advance(1)
    pid = harness.service.create_peer(PeerCreateRequest(ip="1.2.3.4", host_name="box", port=15000)).id
    assert pid.startswith("box-1.2.3.4-")
    assert harness.service.get_peer(pid).created.endswith("Z")
    peers = harness.service.list_peers(0, 0, True)
    assert peers[0].id == pid and len(peers) == 2
    assert len(harness.service.list_peers(1, 1, False)) == 1
    harness.service.delete_peer(pid)
    with pytest.raises(NotFound):
        harness.service.get_peer(pid)
    with pytest.raises(NotFound):
        harness.service.delete_peer(pid)
    with pytest.raises(BadInput):
        harness.service.create_peer(PeerCreateRequest(ip="1.2.3.4", host_name="bad host!", port=15000))


def test_report_metrics(harness):
    harness.service.report_metrics(
        TaskMetricsRequest(ip="1.2.3.4", call_system="ci", success=True, duration=3, file_length=100)
    )
    harness.service.report_metrics(
        TaskMetricsRequest(ip="1.2.3.4", call_system="ci", success=False, back_source_reason="3")
    )
    assert harness.sample("dragonfly_dfget_download_total", callsystem="ci", peer="1.2.3.4") == 2
    assert harness.sample("dragonfly_dfget_download_size_bytes_total", callsystem="ci", peer="1.2.3.4") == 100
    assert harness.sample("dragonfly_dfget_download_failed_total", callsystem="ci", peer="1.2.3.4", reason="3") == 1


def test_corrupt_supernode_piece_on_disk_drops_the_task(harness):
    task_id = harness.register("a").data.task_id
    cdn_cid = f"cdnnode:10.0.0.1~{task_id}"
    harness.cdn.piece_md5s[(task_id, 0)] = ("disk", "recorded:1048576")
    harness.service.piece_error(
        PieceErrorRequest(
            task_id=task_id,
            range="0-1048575",
            src_cid="a",
            dst_cid=cdn_cid,
            error_type="FILE_MD5_NOT_MATCH",
            expected_md5="recorded:1048576",
        )
    )
    harness.service.piece_error(
        PieceErrorRequest(
            task_id=task_id, range="0-1048575", src_cid="a", dst_cid=cdn_cid, error_type="FILE_MD5_NOT_MATCH"
        )
    )
    assert len(harness.spawned) == 1  # one repair in flight per task
    fn, args = harness.spawned.pop()
    fn(*args)
    assert not harness.service.is_servable(task_id) and harness.cdn.deleted == [task_id]


def test_missing_piece_with_data_present_keeps_the_task(harness):
    task_id = harness.register("a").data.task_id
    harness.service.api_piece_error(
        task_id,
        "0-1048575",
        ApiPieceErrorRequest(dst_pid=harness.service.snapshot()["peers"][0]["id"], error_type="FILE_NOT_EXIST"),
    )
    fn, args = harness.spawned.pop()
    fn(*args)
    assert harness.service.is_servable(task_id)


def test_snapshot_and_gauges(harness):
    task_id = harness.register("a").data.task_id
    harness.download("a", task_id)
    snap = harness.service.snapshot()
    [(label, client)] = snap["tasks"][0]["clients"].items()
    assert client["pieces_done"] == 4 and label.startswith("client-")  # a label, never the cid (issue 11)
    harness.service.refresh_gauges()
    assert harness.sample("dragonfly_supernode_tasks", cdnstatus="SUCCESS") == 1
    assert harness.sample("dragonfly_supernode_dfgettasks", callsystem="", status="SUCCESS") == 1
