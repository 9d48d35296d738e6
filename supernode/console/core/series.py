"""A bounded in-memory time series of bytes moved, for the console's throughput chart.

Bytes are added to fixed buckets of `step` seconds as they are reported; only the last `length`
buckets are kept (10 minutes by default), so memory is bounded whatever the traffic. `points`
returns every bucket of the window, empty ones as zeros, as bytes per second per kind.
"""

from typing import Any

KINDS = ("supernode", "p2p", "source", "origin")
# supernode: clients fetched from the supernode; p2p: from other peers; source: clients went to the
# source themselves (dfget's back-to-source reports); origin: the CDN fetched from sources.


class Series:
    def __init__(self, step: float = 5.0, length: int = 120):
        self.step, self.length = step, length
        self._buckets: dict[int, dict[str, int]] = {}

    def add(self, kind: str, nbytes: int, now: float) -> None:
        if kind not in KINDS or nbytes <= 0:
            return
        index = int(now // self.step)
        bucket = self._buckets.setdefault(index, {})
        bucket[kind] = bucket.get(kind, 0) + nbytes
        self._prune(index)

    def _prune(self, newest: int) -> None:
        for old in [i for i in self._buckets if i <= newest - self.length]:
            del self._buckets[old]

    def points(self, now: float) -> "list[dict[str, Any]]":
        """The window ending with the bucket of `now`: [{"t": bucket start, kind: bytes/s, ...}]."""
        last = int(now // self.step)
        out = []
        for index in range(last - self.length + 1, last + 1):
            bucket = self._buckets.get(index, {})
            out.append({"t": index * self.step, **{k: bucket.get(k, 0) / self.step for k in KINDS}})
        return out

    def totals(self, now: float) -> "dict[str, int]":
        """Bytes per kind over the window (the shares the console shows)."""
        first = int(now // self.step) - self.length + 1
        totals = dict.fromkeys(KINDS, 0)
        for index, bucket in self._buckets.items():
            if index >= first:
                for kind, n in bucket.items():
                    totals[kind] += n
        return totals
