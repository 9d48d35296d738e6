"""register -> pull -> piece_success ... -> 600, with a fake CDN."""

import hashlib

import pytest

from common.pieces import frame
from common.protocol.codes import ResultCode as R
from common.protocol.messages import PieceSuccessRequest
from supernode.errors import NotFound
from tests.integration.supernode.conftest import MIB, URL, Harness
from tests.integration.supernode.fakes import FakeCdn


def test_single_client_downloads_everything_from_the_supernode(harness):
    reg = harness.register("c1")
    assert reg.code == R.SUCCESS
    task_id = reg.data.task_id
    assert reg.data.piece_size == MIB and reg.data.file_length == 3 * MIB + 4 and reg.data.cdn_source == "supernode"
    first = harness.pull("c1", task_id, status=700)
    assert first.code == R.PEER_CONTINUE and len(first.data) == 4
    p0 = first.data[0]
    assert p0.range == f"0-{MIB - 1}" and p0.peer_ip == "10.0.0.1" and p0.peer_port == 8001
    assert p0.path == f"/download/{task_id[:3]}/{task_id}" and p0.cid == f"cdnnode:10.0.0.1~{task_id}"
    assert p0.piece_md5 == hashlib.md5(frame(bytes([0]) * (MIB - 5), MIB)).hexdigest() + f":{MIB}"
    answer, got = harness.download("c1", task_id, answer=first)
    assert answer.code == R.PEER_FINISH
    assert answer.data.md5 == hashlib.md5(harness.cdn.content).hexdigest()
    assert answer.data.file_length == 3 * MIB + 4 + 5 * 4
    assert harness.sample("dragonfly_supernode_cdn_trigger_total") == 1
    assert harness.sample("dragonfly_supernode_pieces_downloaded_size_bytes_total") > 3 * MIB
    assert harness.sample("dragonfly_supernode_tasks_registered_total") == 1
    assert harness.sample("dragonfly_supernode_cdn_download_size_bytes_total") == len(harness.cdn.content)


def test_second_client_gets_pieces_from_the_first(harness):
    task_id = harness.register("first").data.task_id
    answer, _ = harness.download("first", task_id)
    assert answer.code == R.PEER_FINISH
    assert harness.register("second").code == R.SUCCESS
    answer, got = harness.download("second", task_id)
    assert answer.code == R.PEER_FINISH
    assert {cid for _, cid in got} == {"first"}
    assert harness.sample("dragonfly_supernode_pieces_downloaded_from_peers_size_bytes_total") > 3 * MIB
    assert harness.service.snapshot()["serves"]


def test_peer_piece_task_carries_the_peers_address(harness):
    task_id = harness.register("first", port=15123).data.task_id
    harness.download("first", task_id)
    harness.register("second")
    piece = harness.pull("second", task_id, status=700).data[0]
    assert (piece.cid, piece.peer_ip, piece.peer_port, piece.path) == ("first", "10.0.1.6", 15123, "/peer/file/first")


def test_cdn_failure_makes_pulls_answer_500():
    h = Harness(FakeCdn(fail=True))
    task_id = h.register("c1").data.task_id
    assert h.pull("c1", task_id, status=700).code == R.SYSTEM_ERROR
    assert h.sample("dragonfly_supernode_cdn_trigger_failed_total") == 1
    assert h.sample("dragonfly_supernode_cdn_download_failed_total") == 1


def test_source_5xx_probe_continues_with_unknown_length():
    h = Harness(FakeCdn(fail=True))
    from supernode.cdn.core.contract import ProbeResult

    h.cdn.probes[URL] = ProbeResult(503)
    reg = h.register("c1")
    assert reg.code == R.SUCCESS and reg.data.file_length == -1 and reg.data.piece_size == 4 * MIB
    assert h.pull("c1", reg.data.task_id, status=700).code == R.SYSTEM_ERROR


def test_unknown_ids_raise_not_found(harness):
    task_id = harness.register("c1").data.task_id
    with pytest.raises(NotFound):
        harness.service.piece_success(PieceSuccessRequest(task_id=task_id, cid="nobody", piece_range="0-1"))
    with pytest.raises(NotFound):
        harness.service.piece_success(
            PieceSuccessRequest(task_id=task_id, cid="c1", dst_cid="ghost", piece_range=f"0-{MIB - 1}")
        )
    assert harness.pull("ghost", task_id, status=700).code == R.TARGET_NOT_FOUND


def test_peer_sending_a_corrupt_piece_is_not_used_again(harness):
    from common.protocol.messages import PieceErrorRequest

    task_id = harness.register("a").data.task_id
    harness.download("a", task_id)
    harness.register("b")
    piece = harness.pull("b", task_id, status=700).data[0]
    assert piece.cid == "a"
    harness.service.piece_error(
        PieceErrorRequest(task_id=task_id, range=piece.range, src_cid="b", dst_cid="a", error_type="FILE_MD5_NOT_MATCH")
    )
    again = harness.pull("b", task_id, result=500, range=piece.range, dst_cid="a")
    assert all(p.cid != "a" for p in again.data if p.piece_num == piece.piece_num)
    assert harness.sample("dragonfly_supernode_piece_errors_total", type="FILE_MD5_NOT_MATCH") == 1
