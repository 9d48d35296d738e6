"""The composition root: `create_app(settings, ...)` builds the service, the CDN, metrics and the
two WSGI apps (API port and download port). Nothing happens at import time; background loops
start only when `Dragonfly.start_background()` is called (after gunicorn forks its worker)."""

import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, request

from common.clock import WaitingClock
from common.protocol import paths
from common.protocol.wire import MAX_REQUEST_BODY
from common.shell.clock import SystemClock
from common.shell.config import Config
from supernode.api import console, management, peer_protocol, preheat, system
from supernode.api.http_metrics import HttpMetrics
from supernode.api.lean_peer_routes import LeanPeerRoutes
from supernode.api.responses import api_error, internal_error, json_response
from supernode.cdn.core.contract import Cdn
from supernode.metrics import SupernodeMetrics
from supernode.shell.gc_loops import BackgroundLoops

if TYPE_CHECKING:  # imported inside `build`, not at import time: they pull in the CDN and preheat stacks
    from supernode.preheat.preheater import Preheater
    from supernode.service import SupernodeService

log = logging.getLogger(__name__)
_VERSION_PREFIX = re.compile(paths.VERSION_PREFIX_PATTERN + r"(?=/)")


@dataclass
class Dragonfly:
    """Everything one supernode owns, all built by `build` and found by every route through
    `supernode.api.current.dragonfly()` (both Flask apps carry it as app.extensions["dragonfly"]):

    * `settings` - supernode.yml and the SUPERNODE_* variables (supernode/settings.py);
    * `service` - the scheduler: the pure core under its lock, its effects carried out (service.py);
    * `cdn` - the cache of source files and the source fetches (cdn/, behind cdn/core/contract.py);
    * `metrics` - the Prometheus registry behind /metrics (metrics.py);
    * `preheater` - the preheat records and their fetches, for /preheats (preheat/);
    * `loops` - task, peer and disk GC, started only after gunicorn forks the worker (shell/gc_loops.py).
    """

    settings: Config
    service: "SupernodeService"
    cdn: Cdn
    metrics: SupernodeMetrics
    preheater: "Preheater"
    loops: BackgroundLoops
    background_started: bool = False

    def start_background(self) -> None:
        """GC loops and the preheat sweeper: started after gunicorn forks its worker."""
        if not self.background_started:
            self.background_started = True
            self.loops.start()
            self.preheater.start_sweeper(max(1.0, min(self.settings.preheat_record_ttl / 4, 600.0)))

    def stop_background(self) -> None:
        if self.background_started:
            self.loops.stop()
        self.preheater.stop()


def _spawn_daemon(fn: "Callable[..., object]", *args: object) -> None:
    threading.Thread(target=fn, args=args, daemon=True).start()


def build(
    settings: Config,
    *,
    cdn: "Cdn | None" = None,
    clock: "WaitingClock | None" = None,
    rng: "random.Random | None" = None,
    spawn: "Callable[..., object] | None" = None,
    advertise_ip: str = "127.0.0.1",
) -> Dragonfly:
    """Wire up a supernode; the CDN defaults to the local disk CDN under settings.home_dir.
    Nothing starts a thread here but the service's own start (background loops wait for
    `Dragonfly.start_background`)."""
    from supernode.cdn.static_tree import local_cdn
    from supernode.preheat.preheater import Preheater, default_fetcher
    from supernode.service import SupernodeService

    clock = clock or SystemClock()
    rng = rng or random.Random()
    metrics = SupernodeMetrics()
    cdn = cdn or local_cdn(settings, clock=clock, spawn=spawn)
    service = SupernodeService(
        settings, cdn=cdn, metrics=metrics, clock=clock, rng=rng, advertise_ip=advertise_ip, spawn=spawn
    )
    service.start()
    preheater = Preheater(settings, fetcher=default_fetcher(settings, service), clock=clock)
    loops = BackgroundLoops(settings, service, spawn=_spawn_daemon)
    return Dragonfly(settings, service, cdn, metrics, preheater, loops)


def create_app(
    settings=None, *, dragonfly: "Dragonfly | None" = None, lean_peer_routes: bool = True, **build_kwargs
) -> Flask:
    """The API app (port 8002): peer protocol, management API, system routes, metrics.
    `lean_peer_routes`: serve the hot /peer/* GETs without Flask (api/lean_peer_routes.py);
    False only to compare the two paths (tests, benchmarks)."""
    if dragonfly is None:
        dragonfly = build(settings, **build_kwargs)
    app = Flask("supernode")
    app.extensions["dragonfly"] = dragonfly
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BODY  # larger bodies: 413 before any is read
    app.url_map.strict_slashes = False
    for bp in (peer_protocol.blueprint, management.blueprint, system.blueprint, preheat.blueprint, console.blueprint):
        app.register_blueprint(bp)
    http_metrics = HttpMetrics(dragonfly.metrics)
    _install_http_metrics(app, http_metrics)
    _install_error_pages(app)
    wsgi = app.wsgi_app
    if lean_peer_routes:
        wsgi = LeanPeerRoutes(wsgi, dragonfly.service, http_metrics)
    app.wsgi_app = VersionPrefix(wsgi)
    return app


def create_download_app(dragonfly: Dragonfly) -> Flask:
    """The download app (port 8001): the framed CDN files of registered tasks."""
    from supernode.api.download import download_blueprint

    app = Flask("supernode-download")
    app.extensions["dragonfly"] = dragonfly
    app.register_blueprint(download_blueprint(dragonfly.cdn, dragonfly.service.is_servable))
    app.add_url_rule(paths.PING, "ping", system.ping)
    _install_error_pages(app)
    return app


class VersionPrefix:
    """Serve every route also under `/v<digits.dots>` (docs/protocol.md#conventions): strip the prefix before
    routing."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        m = _VERSION_PREFIX.match(path)
        if m:
            environ["PATH_INFO"] = path[m.end() :]
        return self.wsgi_app(environ, start_response)


class PortDispatcher:
    """One gunicorn worker listens on both ports; route each request by the port it arrived on."""

    def __init__(self, api_app, download_app, download_port: int):
        self.api_app, self.download_app, self.download_port = api_app, download_app, str(download_port)

    def __call__(self, environ, start_response):
        app = self.download_app if environ.get("SERVER_PORT") == self.download_port else self.api_app
        return app(environ, start_response)


def _install_http_metrics(app: Flask, http_metrics: HttpMetrics) -> None:
    handlers: dict[str, str] = {}  # rule -> v1-style label, computed once per rule

    @app.before_request
    def _start_timer():
        request.environ["dragonfly.start"] = time.perf_counter()

    @app.after_request
    def _record(response):
        rule = request.url_rule.rule if request.url_rule else "unknown"
        handler = handlers.get(rule)
        if handler is None:
            handler = handlers[rule] = system.go_style(rule)
        started = request.environ.get("dragonfly.start")
        http_metrics.record(
            handler,
            response.status_code,
            None if started is None else time.perf_counter() - started,
            request.content_length or 0,
            response.calculate_content_length() or 0,
        )
        return response


def _install_error_pages(app: Flask) -> None:
    @app.errorhandler(404)
    def _not_found(e):
        return api_error(404, f"no route {request.method} {request.path}")

    @app.errorhandler(405)
    def _not_allowed(e):
        return api_error(405, f"method {request.method} not allowed on {request.path}")

    @app.errorhandler(Exception)
    def _internal(e):
        from werkzeug.exceptions import HTTPException

        if isinstance(e, HTTPException):
            return api_error(e.code or 500, e.description or str(e))
        log.exception("unhandled error method=%s path=%s", request.method, request.path)
        return json_response(internal_error(e).encode(), 500)
