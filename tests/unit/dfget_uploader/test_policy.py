"""The upload server's pure decisions: amendRange, range parsing, rate sharing, expiry, ports."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common import dfget_files
from common.errors import BadInput, RangeNotSatisfiable
from dfget.uploader.core import policy
from dfget.uploader.core.policy import DataEntry, TaskView

# ---- amendRange (v1 peer_server_test.go TestAmendRange, docs/protocol.md#peer-upload-server) -------------------------


@pytest.mark.parametrize(
    "size, framed, piece_num, start, length, offset, out_length",
    [
        (10, True, 1, 5, 5, 0, 5),  # spec example: piece 1 of a padded file, whole frame
        (10, True, 0, 0, 15, 0, 15),  # the whole file as one piece
        (10, True, 0, 0, 100, 0, 15),  # past EOF -> shortened to payload + frame
        (2000, True, 0, 0, 2000, 0, 2000),  # payload = first 1995 bytes
        (0, True, 0, 0, 4194304, 0, 5),  # empty file: just the frame
        (10, True, 0, 0, 5, 0, 5),  # exactly the frame
        (10, False, 0, 2, 100, 2, 8),  # cdnSource=source: raw range, clipped
        (10, False, 0, 0, 10, 0, 10),
        (10, False, 3, 9, 1, 9, 1),  # pieceNum is ignored without framing
    ],
)
def test_amend_range_ok(size, framed, piece_num, start, length, offset, out_length):
    plan = policy.amend_range(size, framed, start, length, piece_num)
    assert (plan.offset, plan.length, plan.framed) == (offset, out_length, framed)


@pytest.mark.parametrize(
    "size, framed, piece_num, start, length",
    [
        (10, True, 1, 0, 5),  # spec example: negative raw offset
        (2000, True, 0, 0, 2),  # bytes=0-1: shorter than the 5-byte frame
        (10, True, 0, 0, 4),
        (10, False, 0, 10, 5),  # no framing and offset at EOF
        (10, False, 0, 11, 5),
    ],
)
def test_amend_range_not_satisfiable(size, framed, piece_num, start, length):
    with pytest.raises(RangeNotSatisfiable):
        policy.amend_range(size, framed, start, length, piece_num)


@given(size=st.integers(0, 10_000), piece_size=st.integers(6, 4000), num=st.integers(0, 20))
def test_amend_range_full_pieces_stay_inside_the_file(size, piece_size, num):
    start = num * piece_size
    plan = policy.amend_range(size, True, start, piece_size, num, piece_size)
    assert plan.offset == num * (piece_size - 5)
    assert 5 <= plan.length <= piece_size
    assert plan.payload_length == max(0, min(piece_size - 5, size - plan.offset))


# ---- request parsing ---------------------------------------------------------------------------


def test_parse_piece_request():
    req = policy.parse_piece_request("bytes=4194304-8388607", "1", "4194304", None)
    assert req == policy.PieceRequest(4194304, 4194304, 1, 4194304, True)
    assert not policy.parse_piece_request("bytes=0-9", "0", "0", "source").framed


@pytest.mark.parametrize(
    "rng, num, size",
    [
        ("bytes=0-x", "0", "4194304"),
        ("bytes=0-0", "0", "4194304"),  # end must be greater than start
        ("bytes=5-1", "0", "4194304"),
        ("bytes=0-1-2", "0", "4194304"),
        ("bytes==0-1", "0", "4194304"),
        ("0-100", "0", "4194304"),
        (None, "0", "4194304"),
        ("bytes=0-100", None, "4194304"),  # missing pieceNum
        ("bytes=0-100", "x", "4194304"),
        ("bytes=0-100", "-1", "4194304"),
        ("bytes=0-100", "0", None),  # missing pieceSize
        ("bytes=0-100", "0", "0"),  # framing needs a real piece size
        ("bytes=0-100", "0", str(1 << 28)),  # does not fit the frame header
        ("bytes=0-16777220", "0", "4194304"),  # payload longer than the header can say
    ],
)
def test_parse_piece_request_rejects(rng, num, size):
    with pytest.raises(BadInput):
        policy.parse_piece_request(rng, num, size, None)


def test_a_piece_in_flight_is_planned_at_its_full_length():
    """docs/decisions.md #25: the file holds 100 bytes of piece 1 (payload 4194299 at 4194299)."""
    mib4, payload = 4194304, 4194299
    req = policy.parse_piece_request(f"bytes={mib4}-{2 * mib4 - 1}", "1", str(mib4), None)
    plan = policy.plan_piece_in_flight(payload + 100, req, flight_offset=payload, flight_length=payload)
    assert plan == policy.PiecePlan(offset=payload, length=mib4, framed=True, piece_size=mib4)
    last = policy.plan_piece_in_flight(payload + 100, req, flight_offset=payload, flight_length=1000)  # the last piece
    assert last is not None and last.length == 1000 + 5


def test_only_the_piece_in_flight_is_planned_past_the_file():
    mib4, payload = 4194304, 4194299
    piece2 = policy.parse_piece_request(f"bytes={2 * mib4}-{3 * mib4 - 1}", "2", str(mib4), None)
    assert policy.plan_piece_in_flight(10, piece2, flight_offset=payload, flight_length=payload) is None
    raw = policy.parse_piece_request(f"bytes={payload}-{2 * payload - 1}", "1", str(mib4), "source")
    assert policy.plan_piece_in_flight(10, raw, flight_offset=payload, flight_length=payload) is None
    with pytest.raises(RangeNotSatisfiable):  # what is not the piece in flight keeps its 416
        policy.plan_piece(10, raw)
    piece1 = policy.parse_piece_request(f"bytes={mib4}-{2 * mib4 - 1}", "1", str(mib4), None)
    assert policy.plan_piece_in_flight(10, piece1, flight_offset=payload, flight_length=0) is None


def test_flight_files_belong_to_their_task():
    assert dfget_files.task_name_of(dfget_files.flight_file_name("a-1-2.3")) == "a-1-2.3"
    assert dfget_files.flight_file_of("/d/a-1-2.3.service") == "/d/a-1-2.3.flight"
    assert dfget_files.flight_file_of("/d/a-1-2.3") is None
    entries = [DataEntry("t-1-2.3.flight", False, 0.0), DataEntry("gone-1-2.3.flight", False, 0.0)]
    plan = policy.plan_expiry(entries, {"t-1-2.3": TaskView(finished=False, access_time=0.0)}, 1e9, 180)
    assert plan.delete_files == ("gone-1-2.3.flight",)  # a live task's flight file is never swept


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "/etc/passwd", "a\\b", "a\x00b", ".hidden", "x" * 256])
def test_task_file_name_must_be_one_safe_component(name):
    with pytest.raises(BadInput):
        policy.check_task_file_name(name)


def test_task_file_names():
    assert policy.check_task_file_name("b.test-96414-1549104994.143") == "b.test-96414-1549104994.143"
    assert dfget_files.task_name_of("a-1-2.service") == "a-1-2"
    assert dfget_files.task_name_of("a-1-2") == "a-1-2"
    assert dfget_files.service_file_name("a") == "a.service"


# ---- rate sharing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rate, total, rates, expected",
    [
        (100, 0, [100, 500], 100),  # no total limit: echo
        (10, 100, [10, 20], 10),  # under the limit: as asked
        (60, 100, [60, 40], 60),  # exactly the limit: as asked
        (60, 100, [60, 90], 40),  # ceil(60*100/150)
        (1, 3, [1, 1, 1, 1], 1),  # ceil(3/4)
        (7, 10, [7, 7, 7], 4),  # ceil(70/21) = 4
        (20 << 20, 20 << 20, [20 << 20, 20 << 20, 20 << 20], 6990507),
    ],
)
def test_share_rate(rate, total, rates, expected):
    assert policy.share_rate(rate, total, rates) == expected


@given(rates=st.lists(st.integers(1, 10**9), min_size=1, max_size=8), total=st.integers(1, 10**9))
def test_shares_never_exceed_the_limit_by_more_than_rounding(rates, total):
    shares = [policy.share_rate(r, total, rates) for r in rates]
    assert sum(shares) <= max(total, sum(rates)) + len(rates)
    assert all(1 <= s <= r for s, r in zip(shares, rates, strict=True))


# ---- expiry and idleness -----------------------------------------------------------------------


def test_plan_expiry():
    now, expire = 1000.0, 180.0
    entries = [
        DataEntry("unknown-1.service", False, now),
        DataEntry("sub", True, now),
        DataEntry("running.service", False, 0.0),  # unfinished: kept however old
        DataEntry("fresh.service", False, now - 10),  # finished, recently written
        DataEntry("accessed.service", False, 0.0),  # finished, old mtime, recent access
        DataEntry("old.service", False, now - 200),  # finished, idle for 200 s
        DataEntry("old", False, now - 200),  # its client-file name: same task
    ]
    tasks = {
        "running": TaskView(finished=False, access_time=0.0),
        "fresh": TaskView(finished=True, access_time=0.0),
        "accessed": TaskView(finished=True, access_time=now - 60),
        "old": TaskView(finished=True, access_time=now - 300),
    }
    plan = policy.plan_expiry(entries, tasks, now, expire)
    assert plan.remove_dirs == ("sub",)
    assert plan.delete_files == ("unknown-1.service",)
    assert plan.expire == (("old", "old"), ("old.service", "old"))


def test_plan_expiry_boundary_is_strictly_older():
    tasks = {"t": TaskView(finished=True, access_time=820.0)}
    assert policy.plan_expiry([DataEntry("t.service", False, 0.0)], tasks, 1000.0, 180.0).expire == ()
    assert policy.plan_expiry([DataEntry("t.service", False, 0.0)], tasks, 1000.1, 180.0).expire != ()


def test_is_idle():
    assert not policy.is_idle(now=100, last_alive=0, alive_time=300)
    assert policy.is_idle(now=300, last_alive=0, alive_time=300)
    # An open upload is no exemption: uploads keep the server alive by making progress
    # (each chunk sent counts), so one that stalls cannot keep it up forever (issue 11 item 1).
    assert not policy.is_idle(now=10_000, last_alive=0, alive_time=0)  # 0 disables


# ---- ports and supernode address ---------------------------------------------------------------


def test_port_candidates():
    assert policy.port_candidates(16000, 0) == [16000]
    assert policy.port_candidates(0, 0) == list(range(15000, 15010))
    t = 300 * 12345 + 299
    assert policy.port_candidates(0, t) == list(range(27345, 27355))
    for t in (0, 300 * 49_999, 10**10):
        ports = policy.port_candidates(0, t)
        assert ports and all(15000 <= p <= 65535 for p in ports)


@pytest.mark.parametrize(
    "node, url",
    [
        ("10.0.0.1:8002", "http://10.0.0.1:8002"),
        ("10.0.0.1", "http://10.0.0.1:8002"),
        ("supernode.internal:9000", "http://supernode.internal:9000"),
    ],
)
def test_super_node_base_url(node, url):
    assert policy.super_node_base_url(node) == url


@pytest.mark.parametrize(
    "node",
    [
        "http://sn:9000/",
        "sn:9000/path",
        "user@sn:9000",
        "sn:9000?q",
        "sn:0",
        "sn:65536",
        "sn:-1",
        "",
        "sn :9000",
        "[::1]:9000",
        "-sn:9000",
        "a..b:9000",
        "x" * 300,
        "sn:9000#f",
        "sn\\x:1",
    ],
)
def test_a_super_node_is_only_ever_host_and_port(node):
    """The server calls this address later: never a URL with a scheme or path (issue 11 item 9)."""
    with pytest.raises(BadInput):
        policy.super_node_base_url(node)


# ---- who may use the control endpoints (issue 11 item 1) ---------------------------------------


@pytest.mark.parametrize(
    "remote, local, is_local",
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "", True),  # the Flask test client: no socket
        ("::1", "::1", True),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1", True),
        ("198.51.100.4", "198.51.100.4", True),  # a dfget dialling the host's own address
        ("198.51.100.5", "198.51.100.4", False),  # another host
        ("127.0.0.2", "127.0.0.1", False),  # a loopback alias standing in for another host
        ("0.0.0.0", "0.0.0.0", False),
        ("", "", False),
        ("not-an-ip", "127.0.0.1", False),
    ],
)
def test_is_local_request(remote, local, is_local):
    assert policy.is_local_request(remote, local) is is_local


@pytest.mark.parametrize(
    "host, ok",
    [
        ("127.0.0.1:15001", True),
        ("10.0.0.4:15001", True),
        ("localhost:15001", True),
        ("[::1]:15001", True),
        ("127.0.0.1", True),
        ("evil.example:15001", False),
        ("rebind.evil.example", False),
        ("", False),
    ],
)
def test_a_control_request_must_address_the_server_by_ip(host, ok):
    """DNS rebinding: a web page whose name now points at this host still sends its name."""
    assert policy.is_address_host(host) is ok


def test_a_download_without_a_local_limit_still_gets_only_the_hosts_share(tmp_path):
    """No --locallimit (0: unlimited) must not lift the host-wide --totallimit."""
    import time

    from dfget.uploader.state import UploadState

    state = UploadState(str(tmp_path), time)
    state.configure_total_limit(1000)
    assert state.share_rate("t", 0) == 1000
    assert state.share_rate("t", 400) == 400
