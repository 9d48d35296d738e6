"""Supernode addresses as dfget and dfdaemon take them: `host[:port][=weight]` (port 8002, weight
1 by default). A list may repeat an address (weights add up); weights are divided by their GCD."""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import reduce

from common.errors import BadInput

DEFAULT_PORT = 8002


@dataclass(frozen=True)
class Node:
    host: str
    port: int = DEFAULT_PORT
    weight: int = 1

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return self.addr


def parse_node(text: str) -> Node:
    """`host[:port][=weight]` -> Node; anything malformed is BadInput."""
    spec = text.strip()
    addr, eq, weight_text = spec.partition("=")
    host, colon, port_text = addr.partition(":")
    if not host or any(c.isspace() for c in host) or "/" in host:
        raise BadInput(f"invalid supernode {text!r}: expected host[:port][=weight]")
    port = DEFAULT_PORT
    if colon:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise BadInput(f"invalid supernode {text!r}: port must be 1-65535")
        port = int(port_text)
    weight = 1
    if eq:
        if not weight_text.isdigit() or int(weight_text) < 1:
            raise BadInput(f"invalid supernode {text!r}: weight must be a positive integer")
        weight = int(weight_text)
    return Node(host, port, weight)


def parse_nodes(texts: Iterable[str]) -> "list[Node]":
    """Comma lists and repeated values -> nodes, duplicates merged, weights divided by their GCD."""
    merged: dict[tuple[str, int], int] = {}
    for text in texts:
        for part in str(text).split(","):
            if part.strip():
                n = parse_node(part)
                merged[(n.host, n.port)] = merged.get((n.host, n.port), 0) + n.weight
    if not merged:
        return []
    gcd = reduce(math.gcd, merged.values())
    return [Node(h, p, w // gcd) for (h, p), w in merged.items()]
