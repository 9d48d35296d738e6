"""The supernode's gunicorn worker: gevent, with a stop that is fast and bounded
(docs/stopping.md).

gunicorn's gevent worker notices a stop signal on a one-second tick and keeps accepting new
connections until then, and its Python-level signal handlers wait for gevent's periodic signal
check. Here:

* the stop signals are libev signal watchers, so they wake the worker at once;
* on any stop signal the listening sockets are closed first: nothing new is accepted;
* SIGTERM is graceful: the stop hooks run (held long polls are answered, idle keep-alive
  connections are shut), and requests in flight (a piece being sent) get `stopGrace` (gunicorn's
  graceful_timeout) to finish; whatever is still running then is cut;
* SIGINT or SIGQUIT, or either after a SIGTERM, cuts everything at once. A repeated SIGTERM
  changes nothing: `kill` of the process group and the master both send one;
* the process then leaves with os._exit: no interpreter shutdown waiting on a CDN download.
"""

import logging
import os
import signal
import time
from functools import partial

import gevent
from gevent.event import Event
from gevent.pool import Pool
from gevent.server import StreamServer
from gunicorn.workers.ggevent import GeventWorker

log = logging.getLogger(__name__)
HEARTBEAT = 1.0  # s between the worker's "alive" notes to the master (its timeout check)
DRAIN_CHECK = 0.02  # s between checks that the requests in flight have finished


class SupernodeWorker(GeventWorker):
    """`stop_hooks`: callables run once on a graceful stop, before the wait for requests in flight
    (supernode/server.py adds the long-poll release and the closing of idle connections).
    Whatever is still open at the end is closed by the process exit."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stop_hooks = []
        self._stop = None
        self._quick = None

    def init_signals(self):
        super().init_signals()
        self._stop, self._quick = Event(), Event()
        gevent.signal_handler(signal.SIGTERM, self._on_signal, False)
        gevent.signal_handler(signal.SIGINT, self._on_signal, True)
        gevent.signal_handler(signal.SIGQUIT, self._on_signal, True)

    def _on_signal(self, quick: bool) -> None:
        self.alive = False
        if quick:
            self._quick.set()
        self._stop.set()

    def run(self):
        servers = []
        for listener in self.sockets:
            listener.setblocking(1)
            server = StreamServer(listener, handle=partial(self.handle, listener), spawn=Pool(self.worker_connections))
            server.start()
            servers.append(server)
        while not self._stop.wait(HEARTBEAT):
            if self.ppid != os.getppid():  # the master is gone: so are we, at once
                self._quick.set()
                break
            if not self.alive:
                break
            self.notify()
        started = time.monotonic()
        for server in servers:
            server.close()  # the listening sockets: nothing new is accepted
        if not self._quick.is_set():
            self._run_stop_hooks()
            self._drain(servers, started + self.cfg.graceful_timeout)
        busy = sum(s.pool.size - s.pool.free_count() for s in servers)
        log.info("worker stopped after %.3f s (%s request(s) cut)", time.monotonic() - started, busy)
        logging.shutdown()
        os._exit(0)

    def _run_stop_hooks(self) -> None:
        for hook in self.stop_hooks:
            try:
                hook()
            except Exception:
                log.exception("stop hook failed")

    def _drain(self, servers, deadline: float) -> None:
        """Let requests in flight finish until `deadline`, or a quick stop is asked for."""
        while time.monotonic() < deadline and not self._quick.is_set():
            if all(s.pool.free_count() == s.pool.size for s in servers):
                return
            self.notify()
            self._quick.wait(DRAIN_CHECK)
