"""Run the supernode under gunicorn: ONE gevent worker bound to the API and download ports.

One worker because all scheduling state lives in that process's memory (architecture rule 3).
The app is built inside the worker (no preload), and background loops start after the fork.
"""

import logging
import math
import os
import socket
import sys

from gunicorn.app.base import BaseApplication

from common.shell import logs
from supernode import layout, socket_guard
from supernode.master import SupernodeMaster

log = logging.getLogger(__name__)


def build_wsgi(settings, advertise_ip: str):
    """The dispatcher serving both ports; `.dragonfly` gives the post-fork hook the loops."""
    from supernode.app import PortDispatcher, build, create_app, create_download_app

    dragonfly = build(settings, advertise_ip=advertise_ip)
    if settings.download_server == layout.EXTERNAL:  # a static server serves the download port
        wsgi = create_app(dragonfly=dragonfly)
    else:
        wsgi = PortDispatcher(create_app(dragonfly=dragonfly), create_download_app(dragonfly), settings.download_port)
    wsgi.dragonfly = dragonfly
    return wsgi


def start_background(worker) -> None:
    """gunicorn post_worker_init hook: guard every connection (per-source budget, read deadlines),
    start the loops, and tell the worker what to release on a graceful stop."""
    dragonfly = getattr(worker.wsgi, "dragonfly", None)
    if dragonfly is not None:
        guard = socket_guard.install(worker, dragonfly.settings, dragonfly.metrics)
        dragonfly.start_background()
        worker.stop_hooks.append(lambda: _release(dragonfly, guard.open))


def _release(dragonfly, connections) -> None:
    """A graceful stop waits until no request is in flight: held /peer/task calls and idle
    keep-alive connections (every dfget keeps one) would make every stop and restart take the
    whole graceful time. Answer the held calls at once, and shut the read side of every
    connection, so each finishes the request it is serving and then closes."""
    dragonfly.service.close()
    dragonfly.stop_background()
    for client in list(connections):
        try:
            client.shutdown(socket.SHUT_RD)
        except OSError:
            pass


def gunicorn_settings(settings) -> dict:
    """How gunicorn runs the supernode, from its settings: for the `supernode` command and for
    operators who run gunicorn themselves (conf/gunicorn.conf.py)."""
    s = settings
    ports = [s.listen_port] if s.download_server == layout.EXTERNAL else [s.listen_port, s.download_port]
    return {
        # the REST API and (unless a static server serves them) the CDN piece files
        "bind": [f"{s.listen_address}:{port}" for port in ports],
        "workers": 1,  # the scheduler's state lives in this one process's memory
        # gevent (thousands of held long-poll /peer/task calls, a greenlet each), stopping at once
        "worker_class": "supernode.worker.SupernodeWorker",
        "worker_connections": s.max_connections,  # per port: each listener has its own pool
        "timeout": 120,  # seconds a silent worker may take before it is restarted
        "graceful_timeout": max(1, math.ceil(s.stop_grace)),  # s requests in flight get after SIGTERM
        "keepalive": 75,  # dfget reuses connections; also the socket guard's idle deadline
        "limit_request_line": 4094,  # a request line (path and query) of at most 4 KiB
        "limit_request_fields": 100,  # headers per request
        "limit_request_field_size": 8190,
        "control_socket_disable": True,  # two supernodes on one host must not collide on ~/.gunicorn
        "post_worker_init": start_background,  # guard connections and start GC loops after the fork
        "loglevel": "debug" if s.debug else "info",
        "errorlog": "-",
        "proc_name": "supernode",
    }


def setup_logging(settings) -> str:
    path = settings.log_path or os.path.join(settings.home_dir, "logs", "app.log")
    logs.setup(
        path, sign=None, verbose=settings.debug, max_bytes=settings.log_max_size, backups=settings.log_max_backups
    )
    return path


class SupernodeServer(BaseApplication):
    """`sockets`: the API and download ports, already bound (supernode/listeners.py)."""

    def __init__(self, settings, advertise_ip: str, sockets):
        self.settings = settings
        self.advertise_ip = advertise_ip
        self.sockets = sockets
        super().__init__()

    def run(self):
        try:
            SupernodeMaster(self, self.sockets).run()
        except SystemExit as e:
            # The worker is gone and the ports are closed: leave without the interpreter's
            # teardown of every loaded module (it doubled the time a stop takes).
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def load_config(self):
        for name, value in gunicorn_settings(self.settings).items():
            self.cfg.set(name, value)

    def load(self):
        setup_logging(self.settings)
        return build_wsgi(self.settings, self.advertise_ip)
