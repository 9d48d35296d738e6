"""The CDN's two small on-disk records, byte-compatible with v1 (pure: text in, text out).

`<taskId>.meta` is JSON with exactly v1's keys (docs/protocol.md#files-on-disk-shared-across-programs); times are
milliseconds.
`<taskId>.md5` (docs/protocol.md#pieces-commonpiecespy) is one `md5:len` line per piece, then the file md5, then the
SHA-1 hex
of the concatenation of all previous lines; lines joined with "\\n", no trailing newline. A list
whose SHA-1 or file md5 does not check out is ignored (parse returns None).
"""

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime
from typing import Any

from common.errors import BadInput

_MD5 = re.compile(r"^[0-9a-f]{32}$")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")

# (attribute, v1 JSON key, type)
_FIELDS = (
    ("task_id", "taskID", str),
    ("url", "url", str),
    ("piece_size", "pieceSize", int),
    ("http_file_len", "httpFileLen", int),
    ("biz_id", "bizId", str),
    ("access_time", "accessTime", int),
    ("interval", "interval", int),
    ("file_length", "fileLength", int),
    ("md5", "md5", str),
    ("real_md5", "realMd5", str),
    ("last_modified", "lastModified", int),
    ("etag", "eTag", str),
    ("finish", "finish", bool),
    ("success", "success", bool),
)
META_KEYS = tuple(key for _, key, _ in _FIELDS)


@dataclass(frozen=True)
class FileMeta:
    task_id: str
    url: str
    piece_size: int
    http_file_len: int = -1  # source length; -1 unknown
    biz_id: str = ""  # the identifier
    access_time: int = 0  # ms since the epoch
    interval: int = 0  # ms between the last two accesses
    file_length: int = 0  # wrapped length
    md5: str = ""  # the user's md5
    real_md5: str = ""
    last_modified: int = 0  # ms, from the source's Last-Modified; 0 = none
    etag: str = ""
    finish: bool = False
    success: bool = False

    def to_json(self) -> str:
        return json.dumps({key: getattr(self, attr) for attr, key, _ in _FIELDS}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: "str | bytes") -> "FileMeta":
        try:
            raw = json.loads(text)
        except ValueError as e:
            raise BadInput(f".meta is not JSON: {e}") from None
        if not isinstance(raw, dict):
            raise BadInput(".meta is not a JSON object")
        values = {}
        for attr, key, typ in _FIELDS:
            if key not in raw:
                continue
            v = raw[key]
            if typ is int and (isinstance(v, bool) or not isinstance(v, int)):
                raise BadInput(f".meta key {key} is not an integer: {v!r}")
            if typ is not int and not isinstance(v, typ):
                raise BadInput(f".meta key {key} has the wrong type: {v!r}")
            values[attr] = v
        if "task_id" not in values or "url" not in values or "piece_size" not in values:
            raise BadInput(".meta lacks taskID, url or pieceSize")
        return cls(**values)

    def replace(self, **changes: Any) -> "FileMeta":
        return dataclasses.replace(self, **changes)

    def touched(self, now_ms: int) -> "FileMeta":
        """Record an access: interval = time since the previous access."""
        interval = now_ms - self.access_time if self.access_time > 0 else 0
        return self.replace(access_time=now_ms, interval=max(interval, 0))

    @property
    def has_validators(self) -> bool:
        return bool(self.last_modified > 0 or self.etag)


def format_md5_file(pieces: "list[tuple[str, int]]", file_md5: str) -> str:
    lines = [f"{md5}:{length}" for md5, length in pieces] + [file_md5]
    lines.append(hashlib.sha1("".join(lines).encode("ascii")).hexdigest())
    return "\n".join(lines)


def parse_md5_file(text: str, expected_file_md5: "str | None" = None) -> "list[tuple[str, int]] | None":
    """The piece (md5, wrapped length) list, or None if the file is malformed or fails its checks."""
    lines = (text or "").split("\n")
    if len(lines) < 3:
        return None
    *body, sha1 = lines
    if not _SHA1.match(sha1) or hashlib.sha1("".join(body).encode("utf-8", "replace")).hexdigest() != sha1:
        return None
    *entries, file_md5 = body
    if not _MD5.match(file_md5) or (expected_file_md5 is not None and file_md5 != expected_file_md5):
        return None
    out = []
    for line in entries:
        md5, sep, length = line.partition(":")
        if not sep or not _MD5.match(md5) or not length.isdigit():
            return None
        out.append((md5, int(length)))
    return out


def http_date_to_ms(text: str) -> int:
    """A Last-Modified header -> ms since the epoch; 0 when absent or unparseable."""
    if not text:
        return 0
    try:
        when = parsedate_to_datetime(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return int(when.timestamp() * 1000)
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0


def ms_to_http_date(ms: int) -> str:
    return formatdate(ms / 1000, usegmt=True)
