import hashlib
import json

import pytest

from common.errors import BadInput
from supernode.cdn.core.records import (
    META_KEYS,
    FileMeta,
    format_md5_file,
    http_date_to_ms,
    ms_to_http_date,
    parse_md5_file,
)

PIECES = [(hashlib.md5(b"a").hexdigest(), 1048576), (hashlib.md5(b"b").hexdigest(), 17)]
FILE_MD5 = hashlib.md5(b"file").hexdigest()


def test_md5_file_format_is_v1s():
    text = format_md5_file(PIECES, FILE_MD5)
    lines = text.split("\n")
    assert not text.endswith("\n")
    assert lines[0] == f"{PIECES[0][0]}:1048576" and lines[1] == f"{PIECES[1][0]}:17"
    assert lines[2] == FILE_MD5
    assert lines[3] == hashlib.sha1("".join(lines[:3]).encode()).hexdigest()


def test_md5_file_round_trip():
    text = format_md5_file(PIECES, FILE_MD5)
    assert parse_md5_file(text) == PIECES
    assert parse_md5_file(text, FILE_MD5) == PIECES


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t.replace(":17", ":18"),  # a piece length changed: SHA-1 fails
        lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),  # the SHA-1 itself damaged
        lambda t: t + "\n",  # trailing newline: last line is empty
        lambda t: "\n".join(t.split("\n")[-2:]),  # no piece lines
        lambda t: "",
    ],
)
def test_md5_file_corruption_is_ignored(mangle):
    assert parse_md5_file(mangle(format_md5_file(PIECES, FILE_MD5))) is None


def test_md5_file_with_another_file_md5_is_ignored():
    assert parse_md5_file(format_md5_file(PIECES, FILE_MD5), hashlib.md5(b"other").hexdigest()) is None


def test_meta_has_exactly_v1s_keys_and_round_trips():
    meta = FileMeta(
        "t" * 64,
        "http://h/f?x=1",
        4194304,
        http_file_len=123,
        biz_id="id",
        access_time=1_600_000_000_000,
        interval=5000,
        file_length=128,
        md5="",
        real_md5=FILE_MD5,
        last_modified=1_500_000_000_000,
        etag='"abc"',
        finish=True,
        success=True,
    )
    raw = json.loads(meta.to_json())
    assert tuple(raw) == META_KEYS
    assert set(raw) == {
        "taskID",
        "url",
        "pieceSize",
        "httpFileLen",
        "bizId",
        "accessTime",
        "interval",
        "fileLength",
        "md5",
        "realMd5",
        "lastModified",
        "eTag",
        "finish",
        "success",
    }
    assert FileMeta.from_json(meta.to_json()) == meta


def test_meta_from_v1_json_with_missing_optional_keys():
    meta = FileMeta.from_json('{"taskID":"x","url":"u","pieceSize":4194304,"finish":true}')
    assert meta.finish and not meta.success and meta.http_file_len == -1


@pytest.mark.parametrize(
    "text", ["", "[]", "{", '{"taskID":"x","url":"u"}', '{"taskID":"x","url":"u","pieceSize":"4"}']
)
def test_bad_meta_is_refused(text):
    with pytest.raises(BadInput):
        FileMeta.from_json(text)


def test_touch_records_interval():
    meta = FileMeta("t", "u", 1, access_time=1000)
    touched = meta.touched(4000)
    assert (touched.access_time, touched.interval) == (4000, 3000)
    assert FileMeta("t", "u", 1).touched(4000).interval == 0


def test_http_dates():
    ms = http_date_to_ms("Wed, 21 Oct 2015 07:28:00 GMT")
    assert ms == 1445412480000
    assert ms_to_http_date(ms) == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert http_date_to_ms("") == 0 and http_date_to_ms("yesterday") == 0
