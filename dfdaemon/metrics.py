"""dfdaemon's Prometheus metrics (namespace `dragonfly`, subsystem `dfdaemon`), one registry per daemon."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from common.version import REVISION, VERSION, arch, runtime_version

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self):
        r = self.registry = CollectorRegistry(auto_describe=True)
        ns, sub = "dragonfly", "dfdaemon"
        self.build_info = Gauge(
            "build_info",
            "dfdaemon build information",
            ["version", "revision", "os", "arch", "goversion"],
            namespace=ns,
            subsystem=sub,
            registry=r,
        )
        self.build_info.labels(VERSION, REVISION, "linux", arch(), runtime_version()).set(1)
        self.requests = Counter(
            "requests",
            "requests received, by kind: mirror_layer, mirror, proxy, connect_tunnel, connect_hijack, local",
            ["kind"],
            namespace=ns,
            subsystem=sub,
            registry=r,
        )
        self.layers = Counter(
            "layer_requests",
            "layer requests answered, by how: dfget, direct "
            "(registry refused the preflight, or dfget failed before any byte), small (under "
            "directBelow), range",
            ["via"],
            namespace=ns,
            subsystem=sub,
            registry=r,
        )
        self.dfget_started = Counter(
            "dfget_tasks_started",
            "dfget downloads started (in-process or processes)",
            namespace=ns,
            subsystem=sub,
            registry=r,
        )
        self.fallbacks = Counter(
            "fallbacks",
            "layer requests that fell back to the source after dfget failed, by when: before_first_byte, mid_stream",
            ["when"],
            namespace=ns,
            subsystem=sub,
            registry=r,
        )
        self.digest_mismatch = Counter(
            "digest_mismatch",
            "layer responses aborted because the bytes did not match the digest in the URL",
            namespace=ns,
            subsystem=sub,
            registry=r,
        )
        self.bytes_served = Counter(
            "layer_bytes_served",
            "layer bytes sent to clients, by source",
            ["via"],
            namespace=ns,
            subsystem=sub,
            registry=r,
        )
        self.first_byte = Histogram(
            "layer_first_byte_seconds",
            "time from a layer request to its first body byte",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            namespace=ns,
            subsystem=sub,
            registry=r,
        )
        self.upstream_errors = Counter(
            "upstream_errors", "direct requests that got no answer (503 sent)", namespace=ns, subsystem=sub, registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
