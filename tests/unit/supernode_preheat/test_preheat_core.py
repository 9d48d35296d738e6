"""supernode.core.preheat: ids, request validation, the state table, dedupe, expiry, aggregation."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common import digest
from common.errors import BadInput
from common.source_access import Headers
from supernode.core.preheat import (
    ALREADY_EXISTS,
    REDACTED,
    IllegalTransition,
    PreheatBook,
    PreheatSpec,
    Submit,
    aggregate,
    allowed,
    already_exists_message,
    parse_request,
)
from supernode.core.preheat import PreheatStatus as S

URL = "http://127.0.0.1:8009/normal.txt"
IMAGE = "https://reg.example.com/v2/library/alpine/manifests/3.19"


def spec(url=URL, **kw):
    return parse_request({"type": "file", "url": url, **kw})


def test_id_is_v1_preheat_id_of_the_filtered_url_without_md5():
    s = spec(URL + "?token=x&keep=1", filter="token", identifier="idx")
    assert s.id == digest.preheat_id(URL + "?keep=1", "idx", {})
    # with no identifier / range / filter the preheat id equals the v1 task id of the same URL
    assert spec().id == "f4ebff40fb4fb2bb2659c12e8cfcf8d7197dde43c28a96c672f736a604883db6"


def test_range_header_takes_part_in_the_id_other_headers_do_not():
    base = spec().id
    assert spec(headers={"Authorization": "Bearer a"}).id == base
    assert spec(headers={"Range": "bytes=0-9"}).id != base


def test_platform_changes_only_image_ids_that_ask_for_one():
    plain = parse_request({"type": "image", "url": IMAGE})
    arm = parse_request({"type": "image", "url": IMAGE, "platform": "linux/arm64/v8"})
    assert plain.id == digest.preheat_id(IMAGE, "", {})
    assert arm.id != plain.id and arm.platform == "linux/arm64/v8"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"url": URL}, "type"),
        ({"type": "file"}, "url"),
        ({"type": "blob", "url": URL}, "type"),
        ({"type": "file", "url": "ab"}, "url"),
        ({"type": "file", "url": "ftp://x/y"}, None),
        ({"type": "image", "url": "http://reg/v2/x/blobs/sha256:1"}, "url"),
        ({"type": "image", "url": IMAGE, "platform": "linux"}, "platform"),
        ({"type": "file", "url": URL, "platform": "linux/amd64"}, "platform"),
        ({"type": "file", "url": URL, "headers": {"a": 1}}, "headers"),
    ],
)
def test_bad_requests_are_bad_input(body, field):
    with pytest.raises(BadInput) as e:
        parse_request(body)
    if field:
        assert field in e.value.fields or field in str(e.value)


def test_type_is_case_insensitive_and_harbor_extras_are_ignored():
    s = parse_request(
        {
            "type": "IMAGE",
            "url": IMAGE,
            "image": "library/alpine",
            "tag": "3.19",
            "headers": {"Authorization": "Bearer t"},
        }
    )
    assert s.type == "image" and dict(s.headers) == {"Authorization": "Bearer t"}


def test_allow_list():
    assert allowed(URL, [])
    assert allowed(URL, [r"^http://127\.0\.0\.1:8009/"])
    assert not allowed(URL, [r"^https://"])
    assert not allowed(URL, ["(broken"])


def book():
    return PreheatBook(ttl=100, timeout=50)


def test_state_table_allows_exactly_the_legal_moves():
    legal = {(S.WAITING, S.RUNNING), (S.WAITING, S.FAILED), (S.RUNNING, S.SUCCESS), (S.RUNNING, S.FAILED)}
    for a in S:
        for b in S:
            b_ = book()
            _, rec = b_.submit(spec(), 0)
            rec.status = a
            if (a, b) in legal:
                assert b_.move(rec.id, b, 1).status is b
            else:
                with pytest.raises(IllegalTransition):
                    b_.move(rec.id, b, 1)


def test_submit_dedupes_running_reports_success_and_retries_failures():
    b = book()
    kind, rec = b.submit(spec(), 0)
    assert kind is Submit.CREATED and kind.starts_worker
    assert b.submit(spec(), 1) == (Submit.JOINED, rec)  # waiting: same record, no worker
    b.move(rec.id, S.RUNNING, 1)
    kind, again = b.submit(spec(), 2)
    assert kind is Submit.JOINED and not kind.starts_worker and again is rec
    b.move(rec.id, S.SUCCESS, 3)
    assert b.submit(spec(), 4)[0] is Submit.EXISTS
    assert already_exists_message(rec.id) == ALREADY_EXISTS + rec.id
    b2 = book()
    _, r2 = b2.submit(spec(), 0)
    r2.outputs.append("/tmp/out")
    b2.move(r2.id, S.FAILED, 1, "boom")
    kind, fresh = b2.submit(spec(), 2)
    assert kind is Submit.RETRIED and fresh.status is S.WAITING and fresh.outputs == ["/tmp/out"]


def test_finished_records_expire_after_ttl_and_are_returned_for_file_cleanup():
    b = book()
    _, rec = b.submit(spec(), 0)
    b.move(rec.id, S.RUNNING, 0)
    b.move(rec.id, S.SUCCESS, 10)
    assert b.get(rec.id, 109) is rec and b.expire(109) == []
    assert b.get(rec.id, 110) is None and b.all(110) == []
    assert b.submit(spec(), 110)[0] is Submit.CREATED  # an expired record counts as absent
    assert b.expire(110) == []


def test_expire_removes_expired_records():
    b = book()
    _, rec = b.submit(spec(), 0)
    b.move(rec.id, S.FAILED, 5)
    assert [r.id for r in b.expire(105)] == [rec.id] and not b.records


def test_running_records_time_out():
    b = book()
    _, rec = b.submit(spec(), 0)
    b.move(rec.id, S.RUNNING, 0)
    assert b.time_out(49) == []
    [late] = b.time_out(50)
    assert late.status is S.FAILED and "timed out" in late.error


def test_parent_settles_from_children():
    b = book()
    _, parent = b.submit(parse_request({"type": "image", "url": IMAGE}), 0)
    b.move(parent.id, S.RUNNING, 0)
    kids = [
        b.submit(
            parent.spec.child(f"https://reg.example.com/v2/library/alpine/blobs/sha256:{i}", {}), 0, parent_id=parent.id
        )[1]
        for i in range(2)
    ]
    parent.children = [k.id for k in kids]
    for k in kids:
        b.move(k.id, S.RUNNING, 0)
    b.move(kids[0].id, S.SUCCESS, 1)
    assert b.settle_parent(parent.id, 1) is None and parent.status is S.RUNNING
    b.move(kids[1].id, S.FAILED, 2, "HTTP 500")
    assert b.settle_parent(parent.id, 2).status is S.FAILED
    assert parent.error == f"{kids[1].spec.url} HTTP 500"


def test_children_outlive_neither_their_parent_nor_deletion():
    b = book()
    _, parent = b.submit(parse_request({"type": "image", "url": IMAGE}), 0)
    _, kid = b.submit(
        parent.spec.child("https://reg.example.com/v2/library/alpine/blobs/sha256:1", {}), 0, parent_id=parent.id
    )
    parent.children = [kid.id]
    b.move(kid.id, S.RUNNING, 0)
    b.move(kid.id, S.SUCCESS, 1)
    b.move(parent.id, S.RUNNING, 0)
    b.settle_parent(parent.id, 5)
    assert b.expire(102) == []  # the child expired, but its parent (finished at 5) still counts on it
    assert {r.id for r in b.expire(105)} == {parent.id, kid.id}
    _, parent = b.submit(parse_request({"type": "image", "url": IMAGE}), 200)
    _, kid = b.submit(parent.spec.child("https://reg.example.com/v2/library/alpine/blobs/sha256:1", {}), 200)
    parent.children = [kid.id]
    assert {r.id for r in b.delete(parent.id, 200)} == {parent.id, kid.id}
    assert b.delete(parent.id, 200) == []


@given(st.lists(st.sampled_from(list(S)), max_size=6))
def test_aggregate(statuses):
    kids = []
    b = book()
    for i, st_ in enumerate(statuses):
        _, k = b.submit(spec(f"http://h/{i}"), 0)
        k.status = st_
        kids.append(k)
    status, _ = aggregate(kids)
    if S.FAILED in statuses:
        assert status is S.FAILED
    elif all(s is S.SUCCESS for s in statuses):
        assert status is S.SUCCESS
    else:
        assert status is S.RUNNING


def test_views_redact_credentials_and_show_epoch_for_unfinished():
    b = book()
    _, rec = b.submit(spec(headers={"Authorization": "Bearer secret", "X-Trace": "1"}), 1_600_000_000.5)
    info = rec.status_info().encode()
    assert info == {
        "ID": rec.id,
        "status": "WAITING",
        "startTime": "2020-09-13T12:26:40.500Z",
        "finishTime": "1970-01-01T00:00:00.000Z",
        "errorMsg": "",
    }
    raw = rec.record_info().encode()
    assert raw["Headers"] == {"Authorization": REDACTED, "X-Trace": REDACTED}  # no value, whatever the name
    assert set(raw) == {
        "ID",
        "URL",
        "Type",
        "Filter",
        "Identifier",
        "Headers",
        "ParentID",
        "Children",
        "Status",
        "StartTime",
        "FinishTime",
        "ErrorMsg",
    }
    assert raw["StartTime"] == 1_600_000_000_500
    _, signed = b.submit(spec(url="http://me:pw-secret@registry.test/v2/x/blobs/sha256:1?token=qs-secret"), 1.0)
    shown = signed.record_info().encode()["URL"]
    assert "pw-secret" not in shown and "qs-secret" not in shown


def test_spec_is_hashable_and_child_keeps_headers():
    s = PreheatSpec(type="image", url=IMAGE, headers=Headers({"X": "1"}))
    c = s.child("https://reg.example.com/v2/library/alpine/blobs/sha256:1", {"X": "1", "Authorization": "Bearer t"})
    assert c.type == "file" and dict(c.headers) == {"X": "1", "Authorization": "Bearer t"}
    hash(c)
