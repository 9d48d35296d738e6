"""Which supernode to talk to (docs/architecture.md#a-registration-post-peerregistry, docs/decisions.md #11).

Nodes are written `host[:port][=weight]` (common/nodes.py: dfdaemon takes the same list).

Selection is by consistent hashing of the task URL: every node owns `weight * POINTS` points on
a SHA-256 ring; a URL starts at the first point clockwise of its own hash and fails over to the
next *distinct* nodes in ring order. Every dfget with the same node list therefore sends one URL
to one supernode (one back-source per file, not one per supernode), and when that node dies the
URL's clients move together to the same next node.

`Locator` is a one-pass cursor over that order (as v1's): registration and migration take the
next node, skipping the one in use; once every node has been tried, there is no other node.
"""

import hashlib
from bisect import bisect_left
from collections.abc import Iterator

from common.nodes import Node

POINTS = 64


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def failover_order(nodes: "list[Node]", key: str) -> "list[Node]":
    """Distinct nodes in the order a task with this key (its URL) tries them."""
    if len(nodes) <= 1:
        return list(nodes)
    ring = sorted((_hash(f"{n.addr}#{i}"), n.addr, n) for n in nodes for i in range(n.weight * POINTS))
    start = bisect_left(ring, (_hash(key),))
    order: list[Node] = []
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
        self.current: Node | None = None

    def __len__(self) -> int:
        return len(self.order)

    def candidates(self, skip: Node | None = None) -> Iterator[Node]:
        """Nodes not tried yet, in order, never `skip`; each one taken is consumed."""
        while self._next < len(self.order):
            node = self.order[self._next]
            self._next += 1
            if skip is not None and node.addr == skip.addr:
                continue
            yield node

    def first(self) -> Node | None:
        """The preferred node (for probes and reports), without moving the cursor."""
        return self.current or (self.order[0] if self.order else None)
