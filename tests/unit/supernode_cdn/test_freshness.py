import hashlib

from common.source_access import Headers, SourceAccess
from supernode.cdn.core.contract import CdnJob
from supernode.cdn.core.freshness import Action, decide, if_range_value, revalidation_headers, same_file
from supernode.cdn.core.records import FileMeta

MIB = 1024 * 1024
REAL = hashlib.md5(b"x").hexdigest()
JOB = CdnJob("a" * 64, SourceAccess("http://h/f"), MIB, source_length=100)
DONE = FileMeta(
    "a" * 64, "http://h/f", MIB, http_file_len=100, file_length=105, real_md5=REAL, finish=True, success=True
)


def _decide(meta, job=JOB, size=105, age=10.0, ttl=3600.0):
    return decide(meta, job, data_size=size, data_age=age, unvalidated_ttl=ttl)


def test_nothing_cached_or_different_file_is_fresh():
    assert _decide(None).action is Action.FRESH
    assert _decide(DONE.replace(url="http://h/g")).action is Action.FRESH
    assert _decide(DONE.replace(piece_size=2 * MIB)).action is Action.FRESH
    assert _decide(DONE.replace(biz_id="other")).action is Action.FRESH
    assert _decide(DONE, size=-1).action is Action.FRESH


def test_same_file_compares_md5_else_identifier():
    job = CdnJob("a" * 64, SourceAccess("http://h/f"), MIB, md5=REAL, identifier="ignored")
    assert same_file(DONE.replace(md5=REAL, biz_id="whatever"), job)
    assert not same_file(DONE, job)


def test_validators_mean_revalidate():
    d = _decide(DONE.replace(etag='"v1"'))
    assert d.action is Action.REVALIDATE
    assert revalidation_headers(DONE.replace(etag='"v1"', last_modified=1445412480000)) == {
        "If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 GMT",
        "If-None-Match": '"v1"',
    }


def test_user_md5_pins_content():
    job = CdnJob("a" * 64, SourceAccess("http://h/f"), MIB, md5=REAL)
    assert _decide(DONE.replace(md5=REAL, etag='"v"'), job).action is Action.HIT


def test_no_validators_hit_within_ttl_when_length_unchanged():
    assert _decide(DONE).action is Action.HIT
    assert _decide(DONE, age=4000).action is Action.FRESH
    assert (
        _decide(DONE, job=CdnJob("a" * 64, SourceAccess("http://h/f"), MIB, source_length=101)).action is Action.FRESH
    )
    assert _decide(DONE, job=CdnJob("a" * 64, SourceAccess("http://h/f"), MIB, source_length=-1)).action is Action.HIT


def test_failed_or_truncated_is_fresh():
    assert _decide(DONE.replace(success=False)).action is Action.FRESH
    assert _decide(DONE, size=104).action is Action.FRESH


def test_unfinished_resumes_only_when_checkable():
    partial = DONE.replace(finish=False, success=False, etag='"v"')
    d = _decide(partial, size=2 * MIB + 7)
    assert (d.action, d.break_num) == (Action.RESUME, 2)
    assert _decide(partial, size=MIB - 1).action is Action.FRESH
    assert _decide(partial.replace(etag=""), size=2 * MIB).action is Action.FRESH
    ranged = CdnJob("a" * 64, SourceAccess("http://h/f", Headers({"range": "bytes=0-9"})), MIB)
    assert _decide(partial, job=ranged, size=2 * MIB).action is Action.FRESH


def test_if_range_prefers_strong_etag():
    assert if_range_value('"x"', 0) == '"x"'
    assert if_range_value('W/"x"', 1445412480000) == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert if_range_value("", 0) == ""


def test_same_version_needs_the_stored_validator_and_length_back():
    from supernode.cdn.core.freshness import same_version

    strong = FileMeta("t", "u", 1 << 20, http_file_len=100, etag='"a"', last_modified=5000)
    assert same_version(strong, etag='"a"', last_modified_ms=0, total_length=100)
    assert not same_version(strong, etag='"b"', last_modified_ms=5000, total_length=100)
    assert not same_version(strong, etag="", last_modified_ms=5000, total_length=100)
    assert not same_version(strong, etag='"a"', last_modified_ms=5000, total_length=101)
    dated = strong.replace(etag="")
    assert same_version(dated, etag='"new"', last_modified_ms=5000, total_length=100)
    assert not same_version(dated, etag="", last_modified_ms=6000, total_length=100)
    assert not same_version(
        strong.replace(etag='W/"a"', last_modified=0), etag='W/"a"', last_modified_ms=0, total_length=100
    )
    assert same_version(strong.replace(etag="", last_modified=0), etag='"x"', last_modified_ms=0, total_length=100)


def test_unfinished_with_only_a_weak_etag_is_rebuilt():
    meta = FileMeta("t" * 64, "http://h/f", 1 << 20, etag='W/"a"')
    job = CdnJob("t" * 64, SourceAccess("http://h/f"), 1 << 20)
    assert decide(meta, job, data_size=3 << 20, data_age=0).action is Action.FRESH
