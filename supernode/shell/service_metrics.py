"""Turns the core's Count effects and the service's observations into SupernodeMetrics updates."""

import logging

from prometheus_client import Counter

from common.protocol.messages import TaskMetricsRequest
from supernode.core.effects import Count, Metric
from supernode.metric_labels import LabelPolicy
from supernode.metrics import SupernodeMetrics

log = logging.getLogger(__name__)
_NO_BACK_SOURCE = ("", "0")


def counters_of(m: SupernodeMetrics) -> "dict[Metric, Counter]":
    """The Prometheus counter behind each core Metric; every Metric must have one."""
    counters: dict[Metric, Counter] = {
        Metric.TASKS_REGISTERED: m.tasks_registered,
        Metric.TASKS_RETIRED: m.tasks_retired,
        Metric.DFGETTASKS_REGISTERED: m.dfgettasks_registered,
        Metric.DFGETTASKS_FAILED: m.dfgettasks_failed,
        Metric.REGISTRATIONS_WITHOUT_UPLOAD: m.registrations_without_upload,
        Metric.CDN_TRIGGER: m.cdn_trigger,
        Metric.CDN_TRIGGER_FAILED: m.cdn_trigger_failed,
        Metric.CDN_CACHE_HIT: m.cdn_cache_hit,
        Metric.CDN_DOWNLOAD: m.cdn_download,
        Metric.CDN_DOWNLOAD_FAILED: m.cdn_download_failed,
        Metric.CDN_DOWNLOAD_SIZE: m.cdn_download_size,
        Metric.PIECES_DOWNLOADED_SIZE: m.pieces_downloaded_size,
        Metric.PIECES_DOWNLOADED_FROM_PEERS_SIZE: m.pieces_downloaded_from_peers_size,
        Metric.PIECE_ERRORS: m.piece_errors,
        Metric.REPORTS_REFUSED: m.reports_refused,
        Metric.LONG_POLL_WAKEUPS: m.long_poll_wakeups,
        Metric.PIECES_STREAMED: m.pieces_streamed,
        Metric.GC_TASKS: m.gc_tasks,
        Metric.GC_PEERS: m.gc_peers,
    }
    unmapped = set(Metric) - counters.keys()
    if unmapped:
        raise TypeError(f"metrics without a counter: {sorted(u.name for u in unmapped)}")
    return counters


class MetricsRecorder:
    """Every label value that comes from a client goes through a LabelPolicy (metric_labels.py)."""

    def __init__(self, metrics: SupernodeMetrics, labels: "LabelPolicy | None" = None):
        self.metrics = metrics
        self.labels = labels or LabelPolicy()
        self._counters = counters_of(metrics)

    def _series(self, metric, *values):
        return metric.labels(*self.labels.values(metric._name, metric._labelnames, values))

    def count(self, effect: Count) -> None:
        metric = self._counters[effect.metric]
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
        """/task/metrics (docs/protocol.md#supernode-system-management-and-preheat): dfget's own account of one
        download."""
        m, cs, ip, reason = self.metrics, req.call_system, req.ip, req.back_source_reason
        self._series(m.dfget_download, cs, ip).inc()
        if req.success:
            self._series(m.dfget_download_duration, cs, ip).observe(req.duration)
            self._series(m.dfget_download_size, cs, ip).inc(max(req.file_length, 0))
        else:
            self._series(m.dfget_download_failed, cs, ip, reason).inc()
        if reason not in _NO_BACK_SOURCE:
            self._series(m.dfget_back_source, cs, reason).inc()
        log.info(
            "dfget report task=%s cid=%s ip=%s callSystem=%r success=%s duration=%.3f length=%s backsourceReason=%r",
            req.task_id,
            req.cid,
            ip,
            cs,
            req.success,
            req.duration,
            req.file_length,
            reason,
        )

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
