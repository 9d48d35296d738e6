"""The P2P downloader against a fake supernode and fake piece servers (docs/architecture.md#a-pull-get-peertask-§4.5,
§6.4)."""

import hashlib
import os
import random
import re

import pytest

from common.pieces import MIB, payload_size
from dfget.downloaders import writer
from dfget.services import Services
from tests.integration.dfget.fakes import TASK_ID, FakeSupernode, FakeUploader, piece_app, serve
from tests.support.procs import wait_until

SIZE = MIB  # smallest piece size the framing allows
CONTENT = os.urandom(int(2.5 * MIB))  # three pieces


@pytest.fixture
def cluster(origin):
    """A fake supernode whose pieces come from a fake piece server; the origin serves the file too."""
    files, base, origin_app = origin
    files["big.bin"] = CONTENT
    pieces = piece_app(CONTENT, SIZE)
    with serve(pieces) as piece_port:
        sn = FakeSupernode(CONTENT, SIZE, piece_port)
        with serve(sn.app()) as sn_port:
            yield sn, f"127.0.0.1:{sn_port}", f"{base}/big.bin", pieces, origin_app


def _download(dfget, tmp_path, cluster, *extra, services=None):
    sn, node, url, _, _ = cluster
    out = tmp_path / "out" / "big.bin"
    result = dfget("-u", url, "-o", str(out), "-n", node, *extra, services=services)
    return result, out


def test_multi_piece_file_is_assembled(dfget, tmp_path, cluster):
    sn, node, url, pieces, origin_app = cluster
    result, out = _download(dfget, tmp_path, cluster, "-p", "cdn")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == CONTENT
    lines = result.stdout.splitlines()
    assert lines[4] == f"client:127.0.0.1 connected to node:{node}"
    assert lines[5] == "start download by dragonfly..."
    assert re.fullmatch(rf"download SUCCESS cost:\d+\.\d{{3}}s length:{len(CONTENT)} reason:0", lines[6])
    assert origin_app.hits == []  # nothing from the source
    assert sorted(int(s["pieceRange"].split("-")[0]) // SIZE for s in sn.sucs) == [0, 1, 2]
    assert sn.calls[0]["status"] == "700" and sn.calls[0]["result"] == "502"
    assert "wait" in sn.calls[0]  # long-poll asked for
    reg = sn.registrations[0]
    assert reg["port"] == 0 if "port" in reg else True
    assert reg["path"].startswith("/peer/file/big.bin-") and reg["rawUrl"] == url
    # piece requests carry the v1 headers
    assert {h[3] for h in pieces.hits} == {"dfget/1.0.6"}
    assert {h[2] for h in pieces.hits} == {f"bytes={n * SIZE}-{n * SIZE + SIZE - 1}" for n in range(3)}
    assert len(sn.metrics) == 1 and sn.metrics[0]["success"] is True
    leftovers = [p for p in os.listdir(out.parent) if p != "big.bin"]
    assert leftovers == []


def test_downloading_piece_lines_are_logged(dfget, tmp_path, cluster, home):
    _download(dfget, tmp_path, cluster, "-p", "cdn")
    log = (home / "logs" / "dfclient.log").read_text()
    pieces = re.findall(
        r'downloading piece:\{"taskID":"f+","superNode":"[\d.:]+","dstCid":"cdnnode:[^"]+",'
        r'"range":"\d+-\d+","result":503,"status":701,"pieceSize":1048576,"pieceNum":(\d)\}',
        log,
    )
    assert sorted(pieces) == ["0", "1", "2"]


def test_corrupt_piece_is_refetched_elsewhere_and_reported(dfget, tmp_path, cluster):
    sn, node, url, pieces, origin_app = cluster
    # piece 1 first comes from a bad peer, then (after the client reports the failure) from a good one
    sn.source_for = lambda num, attempt: ("peer-bad", "/bad") if num == 1 and attempt == 0 else ("peer-good", "/good")
    result, out = _download(dfget, tmp_path, cluster, "-p", "cdn")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == CONTENT
    assert [(e["dstCid"], e["errorType"]) for e in sn.errors] == [("peer-bad", "FILE_MD5_NOT_MATCH")]
    err = sn.errors[0]
    assert err["range"] == f"{SIZE}-{2 * SIZE - 1}" and err["expectedMd5"] != err["realMd5"]
    fails = [c for c in sn.calls if c.get("result") == "500"]
    assert [(c["dstCid"], c["range"]) for c in fails] == [("peer-bad", f"{SIZE}-{2 * SIZE - 1}")]
    assert [h[0] for h in pieces.hits if h[1] == 1] == ["bad", "good"]
    assert origin_app.hits == []


def test_piece_is_never_refetched_from_the_peer_that_failed_it(dfget, tmp_path, cluster):
    sn, node, url, pieces, origin_app = cluster
    # a stubborn supernode keeps offering piece 2 from the same bad peer
    sn.source_for = lambda num, attempt: ("peer-bad", "/bad") if num == 2 else ("peer-good", "/good")
    result, out = _download(dfget, tmp_path, cluster, "-p", "cdn")
    assert [h[0] for h in pieces.hits if h[1] == 2] == ["bad"]  # fetched from it once, never again
    assert len([c for c in sn.calls if c.get("result") == "500"]) >= 2
    # the P2P attempt gives up on the piece and the source delivers the file
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == CONTENT
    assert origin_app.hits == ["big.bin"]
    assert result.stdout.splitlines()[-1].endswith("reason:3")


def test_missing_piece_is_reported_as_file_not_exist(dfget, tmp_path, cluster):
    sn, node, url, pieces, origin_app = cluster
    sn.source_for = lambda num, attempt: ("peer-gone", "/gone") if num == 0 and attempt == 0 else ("cdnnode:x", "/good")
    result, out = _download(dfget, tmp_path, cluster, "-p", "cdn")
    assert result.exit_code == 0
    assert [(e["dstCid"], e["errorType"]) for e in sn.errors] == [("peer-gone", "FILE_NOT_EXIST")]
    assert out.read_bytes() == CONTENT


def test_final_md5_mismatch_goes_back_to_source(dfget, tmp_path, cluster):
    sn, node, url, pieces, origin_app = cluster
    sn.final_md5 = hashlib.md5(b"something else").hexdigest()
    result, out = _download(dfget, tmp_path, cluster, "-p", "cdn")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == CONTENT
    assert origin_app.hits == ["big.bin"]
    stdout = result.stdout
    assert "failed to download by dragonfly: md5 not match" in stdout
    assert "start download big.bin from the source station" in stdout
    assert stdout.splitlines()[-1].endswith("reason:2")


def test_final_md5_mismatch_with_notbs_fails_without_output(dfget, tmp_path, cluster):
    sn, node, url, pieces, origin_app = cluster
    sn.final_md5 = "0" * 32
    result, out = _download(dfget, tmp_path, cluster, "-p", "cdn", "--notbs")
    assert result.exit_code == 80
    assert not out.exists()
    assert "download fail and not back source: 1002" in result.stdout.splitlines()[-1]
    assert origin_app.hits == []
    assert sn.metrics[0].get("success", False) is False and sn.metrics[0]["backsourceReason"] == "1002"


def test_p2p_pattern_assembles_into_the_service_file(dfget, tmp_path, cluster, home):
    sn, node, url, pieces, origin_app = cluster
    uploader = FakeUploader(port=15001)
    result, out = _download(dfget, tmp_path, cluster, services=Services(rng=random.Random(1), uploader=uploader))
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == CONTENT
    assert sn.registrations[0]["port"] == 15001
    tfn = sn.registrations[0]["path"].rsplit("/", 1)[1]
    service = home / "data" / (tfn + ".service")
    assert service.read_bytes() == CONTENT
    assert os.path.samefile(service, out)  # output is a hard link to the service file
    assert uploader.finished == [(tfn, TASK_ID, sn.registrations[0]["cid"], node)]
    assert uploader.rates  # asked for its share of --totallimit


def test_p2p_pattern_without_upload_server_falls_back_to_cdn(dfget, tmp_path, cluster):
    sn, *_ = cluster
    result, out = _download(
        dfget, tmp_path, cluster, services=Services(rng=random.Random(1), uploader=FakeUploader(fail=True))
    )
    assert result.exit_code == 0
    assert sn.registrations[0].get("port", 0) == 0
    assert out.read_bytes() == CONTENT


def test_unreachable_supernode_fails_over_to_the_next(dfget, tmp_path, cluster):
    sn, node, url, *_ = cluster
    result, out = _download(dfget, tmp_path, cluster, "-p", "cdn", "-n", "127.0.0.1:1")
    assert result.exit_code == 0
    assert out.read_bytes() == CONTENT
    assert f"connected to node:{node}" in result.stdout


def test_cdn_source_mode_fetches_raw_ranges_from_the_source(dfget, tmp_path, cluster):
    sn, node, url, pieces, origin_app = cluster
    sn.cdn_source, sn.source_url = "source", url
    sn.__post_init__()
    result, out = _download(dfget, tmp_path, cluster, "-p", "cdn")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == CONTENT
    assert pieces.hits == [] and origin_app.hits.count("big.bin") == 3  # 3 raw ranges from the origin
    assert result.stdout.splitlines()[-1].endswith("reason:0")


def test_migrates_when_the_supernode_breaks(dfget, tmp_path, cluster):
    from common.nodes import parse_nodes
    from dfget.core.locator import failover_order

    sn, node, url, pieces, origin_app = cluster
    broken = FakeSupernode(CONTENT, SIZE, 0, answer={"code": 500, "msg": "system error"})
    with serve(broken.app()) as port:
        other = f"127.0.0.1:{port}"
        order = [n.addr for n in failover_order(parse_nodes([node, other]), url)]
        first, second = (broken, sn) if order[0] == other else (sn, broken)
        if first is sn:  # make the healthy one break instead, so a migration always happens
            sn.answer, broken.answer = {"code": 500}, None
            broken.__init__(CONTENT, SIZE, sn.piece_port)
        result, out = _download(dfget, tmp_path, cluster, "-p", "cdn", "-n", other)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == CONTENT
    assert f"migrated to node:{order[1]}" in result.stdout.splitlines()
    assert origin_app.hits == []


def test_a_supernode_restarted_in_place_is_registered_with_again_even_with_other_nodes(dfget, tmp_path, cluster):
    """Issue 12 item 2: "unknown task" from the node in use means it lost its state (a restart in
    place): register with it again and carry on P2P, never the next node or the source."""
    from common.nodes import parse_nodes
    from dfget.core.locator import failover_order

    sn, node, url, pieces, origin_app = cluster
    spare = FakeSupernode(CONTENT, SIZE, sn.piece_port)
    with serve(spare.app()) as port:
        other = f"127.0.0.1:{port}"
        first = failover_order(parse_nodes([node, other]), url)[0].addr
        restarted, idle = (sn, spare) if first == node else (spare, sn)
        restarted.forget_after = 1
        restarted.limit = 1  # one piece at a time: the restart comes between pieces
        result, out = _download(dfget, tmp_path, cluster, "-p", "cdn", "-n", other)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == CONTENT
    assert result.stdout.splitlines()[-1].endswith("reason:0") and "migrated" not in result.stdout
    assert len(restarted.registrations) == 2 and idle.registrations == []
    assert restarted.registrations[0]["cid"] == restarted.registrations[1]["cid"]
    assert len(restarted.done) == len(restarted.pieces) and origin_app.hits == []
    # after the restart the client fetched only what it did not have yet
    assert sorted(int(h[2].split("=")[1].split("-")[0]) // SIZE for h in pieces.hits) == [0, 1, 2]


def test_after_registering_again_the_pieces_held_are_announced_to_our_supernode(dfget, tmp_path, cluster):
    """The restarted supernode learns at once which pieces this peer holds (piece/suc without a
    source), so it can send other peers here; a v1 supernode (no client key) is not told."""
    sn, node, url, pieces, origin_app = cluster
    sn.forget_after, sn.limit, sn.client_key = 2, 1, "key"
    result, out = _download(
        dfget, tmp_path, cluster, services=Services(rng=random.Random(1), uploader=FakeUploader(port=15001))
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == CONTENT and len(sn.registrations) == 2

    def announced():
        return sorted(s["pieceRange"] for s in sn.sucs if not s.get("dstCid"))

    wait_until(lambda: len(announced()) >= 2, 30, "the announcements")  # a thread: the run may end first
    assert announced() == [f"{n * SIZE}-{n * SIZE + SIZE - 1}" for n in range(2)]
    assert len(pieces.hits) == 3 and origin_app.hits == []


def test_a_v1_supernode_is_not_told_of_held_pieces(dfget, tmp_path, cluster):
    sn, node, url, pieces, origin_app = cluster
    sn.forget_after, sn.limit = 2, 1
    result, out = _download(
        dfget, tmp_path, cluster, services=Services(rng=random.Random(1), uploader=FakeUploader(port=15001))
    )
    assert result.exit_code == 0 and out.read_bytes() == CONTENT, result.output
    assert [s for s in sn.sucs if not s.get("dstCid")] == []


def test_timeout_goes_back_to_source(dfget, tmp_path, cluster):
    sn, node, url, pieces, origin_app = cluster
    sn.answer = {"code": 602, "msg": "peer task wait"}  # a v1 supernode with nothing to give, forever
    result, out = _download(dfget, tmp_path, cluster, "-p", "cdn", "--timeout", "1s")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == CONTENT
    assert "failed to download by dragonfly: download time out" in result.stdout
    assert result.stdout.splitlines()[-1].endswith("reason:3")
    assert 3 <= len(sn.calls) < 40  # backed off, did not spin


def _asks(sn):
    """Pulls that report nothing while pieces run ("anything more for me?")."""
    return [c for c in sn.calls if c.get("status") == "701" and c.get("result") == "502" and not c.get("range")]


def test_with_our_supernode_an_ask_stays_open_while_pieces_run(dfget, tmp_path, cluster):
    """docs/decisions.md #24: new work reaches a busy client at once. A quick 602 (a supernode
    that did not hold the ask) sends the loop back to waiting for a piece: no spinning."""
    sn, node, url, pieces, origin_app = cluster
    sn.limit, sn.client_key = 1, "key"
    result, out = _download(dfget, tmp_path, cluster, "-p", "cdn")
    assert result.exit_code == 0 and out.read_bytes() == CONTENT, result.output
    asks = _asks(sn)
    assert asks and all(float(c["wait"]) > 0 for c in asks)
    assert len(asks) <= 3  # at most one per piece: never a busy loop


def test_a_v1_supernode_is_never_sent_an_ask(dfget, tmp_path, cluster):
    sn, node, url, pieces, origin_app = cluster
    sn.limit = 1
    result, out = _download(dfget, tmp_path, cluster, "-p", "cdn")
    assert result.exit_code == 0 and out.read_bytes() == CONTENT, result.output
    assert _asks(sn) == []


# -- the output md5 on its own thread (dfget/downloaders/writer.py): pieces that land ahead of the
#    hashed prefix are held in memory, or beyond the budget read back; every check still holds.

MANY = os.urandom(8 * payload_size(SIZE) - 1000)  # eight pieces


@pytest.fixture
def many(origin):
    """Eight pieces; piece 0 is answered only once the other seven are done, so they all land
    ahead of the hashed prefix."""
    files, base, origin_app = origin
    files["many.bin"] = MANY
    pieces = piece_app(MANY, SIZE)
    with serve(pieces) as piece_port:
        sn = FakeSupernode(MANY, SIZE, piece_port, limit=8)
        pieces.hold = {0: lambda: sn.done >= set(range(1, len(sn.pieces)))}
        with serve(sn.app()) as sn_port:
            yield sn, f"127.0.0.1:{sn_port}", f"{base}/many.bin", pieces, origin_app


@pytest.fixture(params=["held", "read back"])
def budget(request, monkeypatch):
    """Pieces ahead of the prefix kept in memory (the default budget), or none kept (all read
    back); yields the hashers the run made."""
    if request.param == "read back":
        monkeypatch.setattr(writer, "HOLD_BUDGET", 0)
    made = []

    class Recorded(writer.PrefixHasher):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            made.append(self)

    monkeypatch.setattr(writer, "PrefixHasher", Recorded)
    return request.param, made


def test_pieces_landing_ahead_give_the_right_md5(dfget, tmp_path, many, budget):
    sn, node, url, pieces, origin_app = many
    out = tmp_path / "out" / "many.bin"
    result = dfget("-u", url, "-o", str(out), "-n", node, "-p", "cdn", "--md5", hashlib.md5(MANY).hexdigest())
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == MANY
    assert origin_app.hits == []
    assert result.stdout.splitlines()[-1].endswith("reason:0")
    kind, (hasher,) = budget
    if kind == "held":
        assert hasher.read_back == 0  # every byte hashed once, from memory
    else:  # piece 0 landed last: all others were ahead
        assert hasher.read_back == len(MANY) - payload_size(SIZE)


def test_a_wrong_user_md5_is_caught_with_pieces_landing_ahead(dfget, tmp_path, many, budget):
    sn, node, url, pieces, origin_app = many
    out = tmp_path / "out" / "many.bin"
    result = dfget("-u", url, "-o", str(out), "-n", node, "-p", "cdn", "--notbs", "--md5", "0" * 32)
    assert result.exit_code == 80
    assert not out.exists()
    assert "download fail and not back source: 1002" in result.stdout.splitlines()[-1]
    assert origin_app.hits == []


def test_a_wrong_supernode_md5_is_caught_with_pieces_landing_ahead(dfget, tmp_path, many, budget):
    sn, node, url, pieces, origin_app = many
    sn.final_md5 = hashlib.md5(b"something else").hexdigest()
    out = tmp_path / "out" / "many.bin"
    result = dfget("-u", url, "-o", str(out), "-n", node, "-p", "cdn")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == MANY  # from the source, after the md5 check failed
    assert "failed to download by dragonfly: md5 not match" in result.stdout
    assert origin_app.hits == ["many.bin"]
    assert result.stdout.splitlines()[-1].endswith("reason:2")


def test_a_corrupt_piece_landing_ahead_is_caught_and_fetched_again(dfget, tmp_path, many, budget):
    sn, node, url, pieces, origin_app = many
    sn.source_for = lambda num, attempt: ("peer-bad", "/bad") if num == 5 and attempt == 0 else ("peer-good", "/good")
    out = tmp_path / "out" / "many.bin"
    result = dfget("-u", url, "-o", str(out), "-n", node, "-p", "cdn", "--md5", hashlib.md5(MANY).hexdigest())
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == MANY
    assert [(e["dstCid"], e["errorType"]) for e in sn.errors] == [("peer-bad", "FILE_MD5_NOT_MATCH")]
    assert [h[0] for h in pieces.hits if h[1] == 5] == ["bad", "good"]
    assert origin_app.hits == []
