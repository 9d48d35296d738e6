"""Turns the core's Count effects and the service's observations into SupernodeMetrics updates."""
import logging

from common.protocol.messages import TaskMetricsRequest

log = logging.getLogger(__name__)
_NO_BACK_SOURCE = ("", "0")


class MetricsRecorder:
    def __init__(self, metrics):
        self.metrics = metrics

    def count(self, effect) -> None:
        metric = getattr(self.metrics, effect.metric)
        if effect.labels:
            metric = metric.labels(*effect.labels)
        metric.inc(effect.amount)

    def schedule_duration(self, peer_ip: str, seconds: float) -> None:
        self.metrics.schedule_duration.labels(peer_ip).observe(seconds * 1000.0)

    def disk_gc(self, evicted: int, now: float) -> None:
        if evicted:
            self.metrics.gc_disks.inc(evicted)
        self.metrics.last_gc_disks.set(now)

    def dfget_report(self, req: TaskMetricsRequest) -> None:
        """/task/metrics (spec §3.1): dfget's own account of one download."""
        m, cs, ip = self.metrics, req.call_system, req.ip
        m.dfget_download.labels(cs, ip).inc()
        if req.success:
            m.dfget_download_duration.labels(cs, ip).observe(req.duration)
            m.dfget_download_size.labels(cs, ip).inc(max(req.file_length, 0))
        else:
            m.dfget_download_failed.labels(cs, ip, req.back_source_reason).inc()
        if req.back_source_reason not in _NO_BACK_SOURCE:
            m.dfget_back_source.labels(cs, req.back_source_reason).inc()
        log.info("dfget report task=%s cid=%s ip=%s callSystem=%s success=%s duration=%.3f length=%s "
                 "backsourceReason=%s", req.task_id, req.cid, ip, cs, req.success, req.duration,
                 req.file_length, req.back_source_reason)

    def refresh_gauges(self, core) -> None:
        counts = core.gauge_counts()
        m = self.metrics
        m.peers.clear()
        for ip, n in counts["peers"].items():
            m.peers.labels(ip).set(n)
        m.tasks.clear()
        for status, n in counts["tasks"].items():
            m.tasks.labels(status).set(n)
        m.dfgettasks.clear()
        for (call_system, status), n in counts["dfgettasks"].items():
            m.dfgettasks.labels(call_system, status).set(n)
