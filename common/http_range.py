"""The HTTP `Range` header, one grammar for the three programs (pure).

`parse_byte_range` reads a single `bytes=<first>-<last>` range (either side may be empty, not
both; RFC 9110 §14.1.2) and says nothing about what a caller does with it: the supernode's download
port resolves it against a file, the upload server wants v1's closed `a-b` form, dfdaemon ignores a
malformed one and sends the whole blob. Several ranges are not supported by any of them.
"""

import re
from dataclasses import dataclass

from common.errors import RangeError, RangeNotSatisfiable

_ONE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
_MAX_DIGITS = 19  # a byte offset beyond 2**63 is no offset (and int() of a huge string is slow)


@dataclass(frozen=True)
class ByteRange:
    start: int | None  # None: a suffix range (`-n`, the last n bytes)
    end: int | None  # inclusive; None: to the end of the resource

    @property
    def closed(self) -> bool:
        return self.start is not None and self.end is not None

    def resolve(self, length: int) -> "tuple[int, int] | None":
        """(first, last) inclusive within a resource of `length` bytes; None if unsatisfiable."""
        if self.start is None:
            n = self.end or 0
            if n <= 0 or length == 0:
                return None
            return max(0, length - n), length - 1
        if self.start >= length:
            return None
        last = length - 1 if self.end is None else min(self.end, length - 1)
        return self.start, last


def parse_byte_range(header: "str | None") -> ByteRange:
    """One `bytes=` range; anything else (another unit, several ranges, no numbers, an end
    before the start, absurd offsets) is a RangeError naming the header."""
    text = header or ""
    m = _ONE.match(text)
    if not m or not (m.group(1) or m.group(2)) or max(len(m.group(1)), len(m.group(2))) > _MAX_DIGITS:
        raise RangeError(f"malformed Range header {text[:100]!r}")
    start = int(m.group(1)) if m.group(1) else None
    end = int(m.group(2)) if m.group(2) else None
    if start is not None and end is not None and end < start:
        raise RangeError(f"malformed Range header {text[:100]!r}: end before start")
    return ByteRange(start, end)


def resolve_range(header: "str | None", total: int) -> "tuple[int, int]":
    """A `Range` header resolved against a resource of `total` bytes -> (start, end), the end clipped
    to the resource. Malformed -> RangeError; nothing of the resource in it -> RangeNotSatisfiable."""
    wanted = parse_byte_range(header)
    got = wanted.resolve(total)
    if got is None:
        raise RangeNotSatisfiable(f"range {header!r} is not within {total} bytes")
    return got
