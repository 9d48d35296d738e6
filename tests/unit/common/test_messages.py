import pytest

from common.errors import BadInput
from common.protocol.codes import ResultCode
from common.protocol.messages import PieceTask, PullPieceTaskRequest, RegisterRequest, RegisterResult, ResultInfo
from common.protocol.rest_messages import TaskInfo

REGISTER = {
    "rawUrl": "http://h/f",
    "taskUrl": "http://h/f",
    "cid": "127.0.0.1-1-1.000",
    "ip": "127.0.0.1",
    "port": 15001,
    "path": "/peer/file/f-1-1.000",
    "headers": ["A: b"],
    "dfdaemon": True,
}


def test_register_round_trip_and_case_insensitive_keys():
    req = RegisterRequest.decode(REGISTER)
    assert RegisterRequest.decode(req.encode()) == req
    shouted = {"RAWURL": "http://h/f", "CID": "c", "IP": "10.0.0.1", "PATH": "/p"}
    assert RegisterRequest.decode(shouted).ip == "10.0.0.1"


def test_register_form_body_strings():
    form = {"rawUrl": "http://h/f", "cid": "c", "ip": "1.2.3.4", "path": "/p", "port": "15001", "dfdaemon": "true"}
    req = RegisterRequest.decode(form, from_strings=True)
    assert req.port == 15001 and req.dfdaemon is True


@pytest.mark.parametrize(
    "patch,field",
    [
        ({"ip": "::1"}, "ip"),
        ({"ip": "localhost"}, "ip"),
        ({"port": 80}, "port"),
        ({"port": 65001}, "port"),
        ({"port": "15001"}, "port"),
        ({"cid": ""}, "cid"),
        ({"headers": "A: b"}, "headers"),
        ({"dfdaemon": "yes"}, "dfdaemon"),
    ],
)
def test_register_rejects_each_bad_field(patch, field):
    with pytest.raises(BadInput) as e:
        RegisterRequest.decode({**REGISTER, **patch})
    assert field in e.value.fields


def test_every_error_is_listed_at_once():
    with pytest.raises(BadInput) as e:
        RegisterRequest.decode({"ip": "x", "port": 1})
    assert {"rawUrl", "cid", "ip", "port", "path"} <= set(e.value.fields)


def test_result_info_omits_empty_like_go():
    assert ResultInfo.of(ResultCode.GET_PIECE_REPORT).encode() == {"code": 611}
    assert ResultInfo.of(ResultCode.PEER_WAIT, "wait").encode() == {"code": 602, "msg": "wait"}


def test_register_result_keys():
    data = RegisterResult("t", 15, 4194304, "supernode").encode()
    assert data == {
        "taskId": "t",
        "fileLength": 15,
        "pieceSize": 4194304,
        "cdnSource": "supernode",
        "asSeed": False,
        "seedTaskID": "",
    }


def test_pull_query_parsing():
    q = {"srcCid": "a", "dstCid": "", "range": "", "result": "502", "status": "700", "taskId": "t", "wait": "5"}
    req = PullPieceTaskRequest.decode(q, from_strings=True)
    assert (req.result, req.status, req.wait) == (502, 700, 5.0)
    with pytest.raises(BadInput):
        PullPieceTaskRequest.decode({**q, "status": "x"}, from_strings=True)
    with pytest.raises(BadInput):
        PullPieceTaskRequest.decode({**q, "wait": "3600"}, from_strings=True)
    assert dict(req.query())["taskId"] == "t"


def test_piece_task_keeps_zero_fields():
    assert PieceTask(range="0-1", piece_num=0).encode()["pieceNum"] == 0


def test_task_info_headers_map():
    assert TaskInfo(id="x", headers={"A": "b"}).encode() == {"ID": "x", "headers": {"A": "b"}}


# ---- bounds (issue 11 item 4) ---------------------------------------------------------------


def _refused(raw, field, **kw):
    with pytest.raises(BadInput) as e:
        RegisterRequest.decode({**REGISTER, **raw}, **kw)
    text = str(e.value)
    assert field in e.value.fields and len(text) < 600, text
    return text


def test_every_text_is_bounded_before_its_check_and_never_echoed():
    text = _refused({"ip": "1" * 1_000_000}, "ip")
    assert "1000000 characters, at most 64" in text
    _refused({"hostName": "h" * 256}, "hostName")
    RegisterRequest.decode({**REGISTER, "hostName": "h" * 255})


def test_list_items_and_counts_are_bounded():
    _refused({"headers": ["A: b"] * 65}, "headers")
    _refused({"headers": ["A: " + "b" * 9000]}, "headers")
    _refused({"rootCAs": ["x"] * 17}, "rootCAs")


@pytest.mark.parametrize(
    "raw,field",
    [
        ({"cid": "a\tb"}, "cid"),
        ({"cid": "a\u00a0b"}, "cid"),
        ({"headers": ["A: b\r\nC: d"]}, "headers"),
        ({"path": "/x\x7f"}, "path"),
        ({"callSystem": "x\x85"}, "callSystem"),
    ],
)
def test_control_characters_are_refused_and_identifiers_are_visible_ascii(raw, field):
    _refused(raw, field)


def test_numbers_are_64_bit_and_finite():
    _refused({"fileLength": 2**63}, "fileLength")
    RegisterRequest.decode({**REGISTER, "fileLength": 2**63 - 1})
    with pytest.raises(BadInput):
        PullPieceTaskRequest.decode({"srcCid": "c", "taskId": "t", "wait": "nan"}, from_strings=True)
    with pytest.raises(BadInput):
        RegisterRequest.decode({**REGISTER, "port": "\u0661" * 5}, from_strings=True)


def test_printable_unicode_is_fine_where_text_is_free():
    req = RegisterRequest.decode({**REGISTER, "path": "/peer/file/résumé (1).pdf-x", "callSystem": "équipe ci"})
    assert req.call_system == "équipe ci"
