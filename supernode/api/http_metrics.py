"""The API port's HTTP metrics (v1's names, supernode/metrics.py): one recorder for the Flask
routes and for the lean /peer/* path (`lean_peer_routes.py`), so both are counted alike.

The labelled children are looked up once per (code, handler): prometheus' `.labels()` takes a
lock and builds a tuple on every call, which showed in profiles of the /peer/* hot path. Both
label sets are bounded (route templates, HTTP status codes).
"""

from supernode.metrics import SupernodeMetrics


class HttpMetrics:
    def __init__(self, metrics: SupernodeMetrics):
        self._metrics = metrics
        self._requests: dict[tuple[str, str], object] = {}
        self._per_handler: dict[str, tuple] = {}

    def record(self, handler: str, status: int, seconds: "float | None", request_size: int, response_size: int) -> None:
        key = (str(status), handler)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = self._metrics.http_requests.labels(*key)
        counter.inc()
        per = self._per_handler.get(handler)
        if per is None:
            m = self._metrics
            per = self._per_handler[handler] = (
                m.http_request_duration.labels(handler),
                m.http_request_size.labels(handler),
                m.http_response_size.labels(handler),
            )
        duration, req_size, resp_size = per
        if seconds is not None:
            duration.observe(seconds)
        req_size.observe(request_size)
        resp_size.observe(response_size)
