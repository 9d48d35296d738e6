"""Which supernode to talk to (docs/architecture.md#a-registration-post-peerregistry, docs/decisions.md #11).

Nodes are written `host[:port][=weight]` (port 8002, weight 1 by default). Weights are divided
by their GCD; the same address listed twice is merged (weights add up).

Selection is by consistent hashing of the task URL: every node owns `weight * POINTS` points on
a SHA-256 ring; a URL starts at the first point clockwise of its own hash and fails over to the
next *distinct* nodes in ring order. Every dfget with the same node list therefore sends one URL
to one supernode (one back-source per file, not one per supernode), and when that node dies the
URL's clients move together to the same next node.

`Locator` is a one-pass cursor over that order (as v1's): registration and migration take the
next node, skipping the one in use; once every node has been tried, there is no other node.
"""
import hashlib
import math
from bisect import bisect_left
from dataclasses import dataclass
from functools import reduce
from typing import Iterable, Iterator, Optional

from common.errors import BadInput

DEFAULT_PORT = 8002
POINTS = 64


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
    merged: "dict[tuple[str, int], int]" = {}
    for text in texts:
        for part in str(text).split(","):
            if part.strip():
                n = parse_node(part)
                merged[(n.host, n.port)] = merged.get((n.host, n.port), 0) + n.weight
    if not merged:
        return []
    gcd = reduce(math.gcd, merged.values())
    return [Node(h, p, w // gcd) for (h, p), w in merged.items()]


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def failover_order(nodes: "list[Node]", key: str) -> "list[Node]":
    """Distinct nodes in the order a task with this key (its URL) tries them."""
    if len(nodes) <= 1:
        return list(nodes)
    ring = sorted((_hash(f"{n.addr}#{i}"), n.addr, n) for n in nodes for i in range(n.weight * POINTS))
    start = bisect_left(ring, (_hash(key),))
    order: "list[Node]" = []
    for i in range(len(ring)):
        node = ring[(start + i) % len(ring)][2]
        if node not in order:
            order.append(node)
            if len(order) == len(nodes):
                break
    return order


class Locator:
    """A one-pass cursor over `failover_order(nodes, key)`."""

    def __init__(self, nodes: "list[Node]", key: str):
        self.order = failover_order(nodes, key)
        self._next = 0
        self.current: Optional[Node] = None

    def __len__(self) -> int:
        return len(self.order)

    def candidates(self, skip: Optional[Node] = None) -> Iterator[Node]:
        """Nodes not tried yet, in order, never `skip`; each one taken is consumed."""
        while self._next < len(self.order):
            node = self.order[self._next]
            self._next += 1
            if skip is not None and node.addr == skip.addr:
                continue
            yield node

    def first(self) -> Optional[Node]:
        """The preferred node (for probes and reports), without moving the cursor."""
        return self.current or (self.order[0] if self.order else None)
