"""Bounds on Prometheus label values that come from clients (issue 11 item 5).

A label value is a time series for the life of the process: `POST /task/metrics` with a new
`callSystem` or IP each time made every scrape grow without end (300 posts, 420 MB). So every
client-supplied value goes through LabelPolicy first:
- known sets stay known: piece error types, back-source reason codes; anything else is "other";
- open sets (call systems, peer IPs) keep the first N distinct values, later ones are "other";
- every metric keeps at most `series_per_metric` label sets; a new set beyond that is counted
  with all labels "other", so totals stay right while the series count stays fixed.
"""

import ipaddress

from common.protocol.codes import NOT_BACK_SOURCE_OFFSET, BackSourceReason, ClientErrorType

OTHER = "other"
INVALID = "invalid"
_ERROR_TYPES = frozenset({e.value for e in ClientErrorType} | {"unknown"})
_REASONS = frozenset(
    {"", *(str(int(r)) for r in BackSourceReason), *(str(int(r) + NOT_BACK_SOURCE_OFFSET) for r in BackSourceReason)}
)


class FirstSeen:
    """The first `limit` distinct values pass; any other value is OTHER."""

    def __init__(self, limit: int):
        self.limit = limit
        self.kept: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self.kept:
            return value
        if len(self.kept) >= self.limit:
            return OTHER
        self.kept.add(value)
        return value


class LabelPolicy:
    def __init__(self, call_systems: int = 16, peers: int = 256, series_per_metric: int = 1000):
        self.call_system = FirstSeen(call_systems)
        self._peers = FirstSeen(peers)
        self.peer_limit = peers
        self.series_per_metric = series_per_metric
        self._series: dict[str, set[tuple]] = {}
        self._by_label = {
            "callsystem": self.call_system,
            "peer": self.peer,
            "reason": self.reason,
            "type": self.error_type,
        }

    def peer(self, value: str) -> str:
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            return INVALID
        return self._peers(value)

    @staticmethod
    def reason(value: str) -> str:
        return value if value in _REASONS else OTHER

    @staticmethod
    def error_type(value: str) -> str:
        return value if value in _ERROR_TYPES else OTHER

    def values(self, metric_name: str, label_names, values) -> "tuple[str, ...]":
        """The label values to record under: each bounded by its label's rule, the set by the
        metric's series budget."""
        bounded = tuple(self._by_label.get(n, str)(str(v)) for n, v in zip(label_names, values, strict=False))
        seen = self._series.setdefault(metric_name, set())
        if bounded in seen:
            return bounded
        if len(seen) >= self.series_per_metric:
            bounded = (OTHER,) * len(bounded)
        seen.add(bounded)
        return bounded

    def top_peers(self, counts: "dict[str, int]") -> "dict[str, int]":
        """A gauge by peer IP: the `peer_limit` IPs with the most peers, the rest summed as OTHER."""
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        out = dict(ranked[: self.peer_limit])
        rest = sum(n for _, n in ranked[self.peer_limit :])
        if rest:
            out[OTHER] = out.get(OTHER, 0) + rest
        return out
