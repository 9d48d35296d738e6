"""How to reach a source (common/source_access.py): one type from the wire to the CDN, headers
kept as one immutable mapping on the way."""

import pytest

from common.digest import task_id
from common.protocol.messages import RegisterRequest
from common.source_access import Headers, SourceAccess, Tls


def test_headers_read_v1_lines_and_write_them_back():
    h = Headers.from_lines(["A: 1", "b:2", "A: 3", "nocolon", "c:", " d : e:f "])
    assert dict(h) == {"A": "1,3", "b": "2", "d": "e:f"}
    assert h.lines() == ["A: 1,3", "b: 2", "d: e:f"]
    assert Headers.from_lines(None) == {} and not Headers.from_lines([])


def test_lookups_by_key_are_exact_and_by_name_ignore_case():
    h = Headers([("Range", "bytes=0-9"), ("x-tenant", "a"), ("X-Tenant", "b")])
    assert h["Range"] == "bytes=0-9" and h.get("range") is None  # the task id reads `Range` so (v1)
    assert h.has("RANGE") and not h.has("Accept")
    assert h.value("X-TENANT") == "a,b" and h.value("Accept") == ""
    assert dict(h.without("x-TENANT")) == {"Range": "bytes=0-9"}
    assert dict(h) == {"Range": "bytes=0-9", "x-tenant": "a", "X-Tenant": "b"}  # `without` left it as it was


def test_headers_cannot_be_changed_and_can_be_hashed():
    h = Headers({"A": "1"})
    with pytest.raises(TypeError):
        h["A"] = "2"  # type: ignore[index]
    assert h == Headers([("A", "1")]) == {"A": "1"} and h != Headers({"A": "2"})
    assert hash(h) == hash(Headers({"A": "1"}))
    assert (
        len({SourceAccess("u", h, Tls(root_cas=("x",))), SourceAccess("u", Headers({"A": "1"}), Tls(root_cas=("x",)))})
        == 1
    )


def test_a_registration_names_its_source_in_one_value():
    req = RegisterRequest(
        raw_url="https://u:p@h/f?sig=1",
        cid="c",
        ip="10.0.0.2",
        path="/p",
        headers=["Authorization: Bearer t", "Range: bytes=0-9"],
        insecure=True,
        root_cas=["Q0E="],
    )
    source = req.source()
    assert source == SourceAccess(
        "https://u:p@h/f?sig=1",
        Headers({"Authorization": "Bearer t", "Range": "bytes=0-9"}),
        Tls(insecure=True, root_cas=("Q0E=",)),
    )
    assert task_id("https://h/f", headers=source.headers) == task_id("https://h/f", headers={"Range": "bytes=0-9"})
