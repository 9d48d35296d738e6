"""The supernode's Prometheus metrics, with v1's names (docs/operations.md#metrics-worth-alerting-on), on a per-app
registry.

Besides v1's set we add a few that answer "is P2P really happening?" (docs/decisions.md #13):
bytes served by peers vs by the supernode, bytes fetched from the source, long-poll wakeups.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from common.version import REVISION, VERSION, arch, runtime_version

NS = "dragonfly"
_SIZE_BUCKETS = tuple(100 * 10**k for k in range(8))
_DURATION_BUCKETS = (0.1, 0.2, 0.4, 1, 3, 8, 20, 60, 120)
_SCHEDULE_BUCKETS = tuple(0.02 * 2**k for k in range(6))
_DFGET_DURATION_BUCKETS = (10, 30, 60, 120, 300, 600)


class SupernodeMetrics:
    """Every metric the supernode exports; one instance per app (tests build many apps)."""

    def __init__(self, registry: "CollectorRegistry | None" = None):
        self.registry = r = registry or CollectorRegistry()
        sn = "supernode"
        Gauge(
            "build_info",
            "Build information of the supernode",
            ["version", "revision", "os", "arch", "goversion"],
            namespace=NS,
            subsystem=sn,
            registry=r,
        ).labels(VERSION, REVISION, "linux", arch(), runtime_version()).set(1)
        self.http_requests = Counter(
            "http_requests_total",
            "HTTP requests by status code and route",
            ["code", "handler"],
            namespace=NS,
            subsystem=sn,
            registry=r,
        )
        self.http_request_duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["handler"],
            buckets=_DURATION_BUCKETS,
            namespace=NS,
            subsystem=sn,
            registry=r,
        )
        self.http_request_size = Histogram(
            "http_request_size_bytes",
            "HTTP request sizes",
            ["handler"],
            buckets=_SIZE_BUCKETS,
            namespace=NS,
            subsystem=sn,
            registry=r,
        )
        self.http_response_size = Histogram(
            "http_response_size_bytes",
            "HTTP response sizes",
            ["handler"],
            buckets=_SIZE_BUCKETS,
            namespace=NS,
            subsystem=sn,
            registry=r,
        )
        self.state = StateGauges(r)
        self.tasks_registered = Counter(
            "tasks_registered_total", "Tasks created", namespace=NS, subsystem=sn, registry=r
        )
        self.dfgettasks_registered = Counter(
            "dfgettasks_registered_total",
            "Client downloads registered",
            ["callsystem"],
            namespace=NS,
            subsystem=sn,
            registry=r,
        )
        self.registrations_without_upload = Counter(
            "registrations_without_upload_total",
            "Client downloads registered without an upload server (port 0): those hosts share no pieces",
            namespace=NS,
            subsystem=sn,
            registry=r,
        )
        self.dfgettasks_failed = Counter(
            "dfgettasks_failed_total", "Client downloads failed", ["callsystem"], namespace=NS, subsystem=sn, registry=r
        )
        self.schedule_duration = Histogram(
            "schedule_duration_milliseconds",
            "Time to schedule pieces",
            ["peer"],
            buckets=_SCHEDULE_BUCKETS,
            namespace=NS,
            subsystem=sn,
            registry=r,
        )
        self.cdn_trigger = Counter("cdn_trigger_total", "CDN builds triggered", namespace=NS, subsystem=sn, registry=r)
        self.cdn_trigger_failed = Counter(
            "cdn_trigger_failed_total", "CDN builds failed", namespace=NS, subsystem=sn, registry=r
        )
        self.cdn_cache_hit = Counter(
            "cdn_cache_hit_total", "CDN builds served from cache", namespace=NS, subsystem=sn, registry=r
        )
        self.cdn_download = Counter(
            "cdn_download_total", "Source downloads started by the CDN", namespace=NS, subsystem=sn, registry=r
        )
        self.cdn_download_failed = Counter(
            "cdn_download_failed_total", "Source downloads that failed", namespace=NS, subsystem=sn, registry=r
        )
        self.cdn_download_size = Counter(
            "cdn_download_size_bytes_total",
            "Bytes fetched from sources by the CDN",
            namespace=NS,
            subsystem=sn,
            registry=r,
        )
        self.pieces_downloaded_size = Counter(
            "pieces_downloaded_size_bytes_total",
            "Piece bytes clients fetched from the supernode",
            namespace=NS,
            subsystem=sn,
            registry=r,
        )
        self.pieces_downloaded_from_peers_size = Counter(
            "pieces_downloaded_from_peers_size_bytes_total",
            "Piece bytes clients fetched from other peers",
            namespace=NS,
            subsystem=sn,
            registry=r,
        )
        self.piece_errors = Counter(
            "piece_errors_total", "Piece failures reported by clients", ["type"], namespace=NS, subsystem=sn, registry=r
        )
        self.tasks_retired = Counter(
            "tasks_retired_total",
            "In-memory tasks retired because their source changed",
            namespace=NS,
            subsystem=sn,
            registry=r,
        )
        self.long_poll_wakeups = Counter(
            "long_poll_wakeups_total", "Held /peer/task calls answered early", namespace=NS, subsystem=sn, registry=r
        )
        self.pieces_streamed = Counter(
            "pieces_streamed_total",
            "Pieces assigned from a peer that was still receiving them (cut-through)",
            namespace=NS,
            subsystem=sn,
            registry=r,
        )
        self.reports_refused = Counter(
            "reports_refused_total",
            "Reports refused: not sent by the client they name",
            ["report"],
            namespace=NS,
            subsystem=sn,
            registry=r,
        )
        self.connections_refused = Counter(
            "connections_refused_total",
            "Connections closed by the socket guard: source_budget, header_timeout, body_timeout, idle_timeout, shed",
            ["reason"],
            namespace=NS,
            subsystem=sn,
            registry=r,
        )
        self.gc_tasks = Counter("gc_tasks_total", "Tasks collected", namespace=NS, subsystem=sn, registry=r)
        self.gc_peers = Counter("gc_peers_total", "Peers collected", namespace=NS, subsystem=sn, registry=r)
        self.gc_disks = Counter(
            "gc_disks_total", "Cache files evicted by disk GC", namespace=NS, subsystem=sn, registry=r
        )
        self.last_gc_disks = Gauge(
            "last_gc_disks_timestamp_seconds", "Time of the last disk GC", namespace=NS, subsystem=sn, registry=r
        )
        d = "dfget"
        self.dfget_download_duration = Histogram(
            "download_duration_seconds",
            "dfget download durations",
            ["callsystem", "peer"],
            buckets=_DFGET_DURATION_BUCKETS,
            namespace=NS,
            subsystem=d,
            registry=r,
        )
        self.dfget_download_size = Counter(
            "download_size_bytes_total",
            "Bytes downloaded by dfget",
            ["callsystem", "peer"],
            namespace=NS,
            subsystem=d,
            registry=r,
        )
        self.dfget_download = Counter(
            "download_total", "dfget downloads", ["callsystem", "peer"], namespace=NS, subsystem=d, registry=r
        )
        self.dfget_download_failed = Counter(
            "download_failed_total",
            "dfget downloads failed",
            ["callsystem", "peer", "reason"],
            namespace=NS,
            subsystem=d,
            registry=r,
        )
        self.dfget_back_source = Counter(
            "back_source_total",
            "dfget downloads that went to the source, by reason",
            ["callsystem", "reason"],
            namespace=NS,
            subsystem=d,
            registry=r,
        )


class StateGauges:
    """The peers / tasks / dfgettasks gauges: a view of the scheduler's state. The service
    publishes the counts (under its lock) when /metrics is scraped, never on a registration: a
    recount on every registration cost 40-50 ms at 17k peers (issue 11 item 10)."""

    _FAMILIES = (
        ("peers", "Registered peers by IP", ("peer",)),
        ("tasks", "Tasks by CDN status", ("cdnstatus",)),
        ("dfgettasks", "Client downloads by status", ("callsystem", "status")),
    )

    def __init__(self, registry: CollectorRegistry):
        self.samples: dict[str, dict[tuple, float]] = {name: {} for name, _, _ in self._FAMILIES}
        registry.register(self)

    def publish(self, name: str, samples: "dict[tuple, float]") -> None:
        self.samples[name] = samples

    def value(self, name: str, *labels: str) -> float:
        return self.samples[name].get(tuple(labels), 0.0)

    def collect(self):
        for name, doc, labels in self._FAMILIES:
            family = GaugeMetricFamily(f"{NS}_supernode_{name}", doc, labels=list(labels))
            for values, n in sorted(self.samples[name].items()):
                family.add_metric(list(values), n)
            yield family
