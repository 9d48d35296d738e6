"""HTTP `Range` for layer responses (RFC 9110 §14), pure.

Only one `bytes=` range is honoured (docker's retries send `bytes=<offset>-`); anything else that
is malformed, or several ranges, is ignored and the whole blob is sent (as the RFC allows).
"""
import re
from dataclasses import dataclass
from typing import Optional

_ONE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ByteRange:
    start: Optional[int]     # None: a suffix range (`-n`)
    end: Optional[int]       # inclusive; None: to the end

    def resolve(self, length: int) -> "Optional[tuple[int, int]]":
        """(first, last) inclusive within a blob of `length` bytes; None if unsatisfiable."""
        if self.start is None:
            n = self.end or 0
            if n <= 0 or length == 0:
                return None
            return max(0, length - n), length - 1
        if self.start >= length:
            return None
        last = length - 1 if self.end is None else min(self.end, length - 1)
        return self.start, last


def parse_range(header: "str | None") -> Optional[ByteRange]:
    if not header:
        return None
    m = _ONE.match(header)
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None
    start = int(m.group(1)) if m.group(1) else None
    end = int(m.group(2)) if m.group(2) else None
    if start is not None and end is not None and end < start:
        return None
    return ByteRange(start, end)


def content_range(first: int, last: int, length: int) -> str:
    return f"bytes {first}-{last}/{length}"


def unsatisfiable(length: int) -> str:
    return f"bytes */{length}"
