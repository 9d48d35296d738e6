"""How a request's body is delimited, refusing anything two HTTP parsers could read differently (pure).

A request with both Content-Length and Transfer-Encoding, two different Content-Lengths, a
Transfer-Encoding other than exactly `chunked`, or a length that is not plain digits is the raw
material of request smuggling: we would frame the body one way, the next hop another, and the
rest of the body would become a request nobody checked. RFC 9112 §6.3 lets a server refuse
these; we answer 400 and close the connection.
"""

import re

from common.errors import BadInput

_DIGITS = re.compile(r"^[0-9]{1,18}$")
NONE, LENGTH, CHUNKED = "none", "length", "chunked"


class AmbiguousFraming(BadInput):
    """The request's body framing is ambiguous or malformed (400)."""


def body_framing(headers: "list[tuple[str, str]]") -> "tuple[str, int]":
    """(NONE, 0), (LENGTH, n) or (CHUNKED, -1); AmbiguousFraming for anything else."""
    encodings = [v.strip() for k, v in headers if k.lower() == "transfer-encoding"]
    lengths = [v.strip() for k, v in headers if k.lower() == "content-length"]
    if encodings and lengths:
        raise AmbiguousFraming("both Transfer-Encoding and Content-Length")
    if encodings:
        if len(encodings) > 1 or encodings[0].lower() != "chunked":
            raise AmbiguousFraming(f"unsupported Transfer-Encoding {', '.join(encodings)!r} (only 'chunked')")
        return CHUNKED, -1
    if lengths:
        if len(set(lengths)) > 1:
            raise AmbiguousFraming(f"conflicting Content-Length values {lengths}")
        if not _DIGITS.match(lengths[0]):
            raise AmbiguousFraming(f"malformed Content-Length {lengths[0]!r}")
        return LENGTH, int(lengths[0])
    return NONE, 0
