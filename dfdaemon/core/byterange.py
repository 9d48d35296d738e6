"""HTTP `Range` for layer responses (RFC 9110 §14), pure.

Only one `bytes=` range is honoured (docker's retries send `bytes=<offset>-`); anything else that
is malformed, or several ranges, is ignored and the whole blob is sent (as the RFC allows).
"""

from common.errors import RangeError
from common.http_range import ByteRange, parse_byte_range


def parse_range(header: "str | None") -> ByteRange | None:
    """The one range to honour, or None: a malformed header is ignored (the whole blob is sent)."""
    if not header:
        return None
    try:
        return parse_byte_range(header)
    except RangeError:
        return None


def content_range(first: int, last: int, length: int) -> str:
    return f"bytes {first}-{last}/{length}"


def unsatisfiable(length: int) -> str:
    return f"bytes */{length}"
