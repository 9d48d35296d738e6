"""Turns the core's Count effects and the service's observations into SupernodeMetrics updates."""
import logging

from common.protocol.messages import TaskMetricsRequest
from supernode.metric_labels import LabelPolicy

log = logging.getLogger(__name__)
_NO_BACK_SOURCE = ("", "0")


class MetricsRecorder:
    """Every label value that comes from a client goes through a LabelPolicy (metric_labels.py)."""

    def __init__(self, metrics, labels: "LabelPolicy | None" = None):
        self.metrics = metrics
        self.labels = labels or LabelPolicy()

    def _series(self, metric, *values):
        return metric.labels(*self.labels.values(metric._name, metric._labelnames, values))

    def count(self, effect) -> None:
        metric = getattr(self.metrics, effect.metric)
        if effect.labels:
            metric = self._series(metric, *effect.labels)
        metric.inc(effect.amount)

    def schedule_duration(self, peer_ip: str, seconds: float) -> None:
        self._series(self.metrics.schedule_duration, peer_ip).observe(seconds * 1000.0)

    def disk_gc(self, evicted: int, now: float) -> None:
        if evicted:
            self.metrics.gc_disks.inc(evicted)
        self.metrics.last_gc_disks.set(now)

    def dfget_report(self, req: TaskMetricsRequest) -> None:
        """/task/metrics (docs/protocol.md#supernode-system-management-and-preheat): dfget's own account of one download."""
        m, cs, ip, reason = self.metrics, req.call_system, req.ip, req.back_source_reason
        self._series(m.dfget_download, cs, ip).inc()
        if req.success:
            self._series(m.dfget_download_duration, cs, ip).observe(req.duration)
            self._series(m.dfget_download_size, cs, ip).inc(max(req.file_length, 0))
        else:
            self._series(m.dfget_download_failed, cs, ip, reason).inc()
        if reason not in _NO_BACK_SOURCE:
            self._series(m.dfget_back_source, cs, reason).inc()
        log.info("dfget report task=%s cid=%s ip=%s callSystem=%r success=%s duration=%.3f length=%s "
                 "backsourceReason=%r", req.task_id, req.cid, ip, cs, req.success, req.duration,
                 req.file_length, reason)

    def refresh_gauges(self, core) -> None:
        """Recount the state gauges: O(peers), so only when /metrics is scraped."""
        counts, state = core.gauge_counts(), self.metrics.state
        state.publish("peers", {(ip,): n for ip, n in self.labels.top_peers(counts["peers"]).items()})
        state.publish("tasks", {(status,): n for status, n in counts["tasks"].items()})
        dfgets: dict[tuple, int] = {}
        for (call_system, status), n in counts["dfgettasks"].items():
            key = (self.labels.call_system(call_system), status)
            dfgets[key] = dfgets.get(key, 0) + n
        state.publish("dfgettasks", dfgets)
