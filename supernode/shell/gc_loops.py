"""Background loops of the supernode (docs/architecture.md#background-work): task and peer GC, disk GC, supernode-load
resets.

They are started only after gunicorn has forked the worker (never at import). Each round is
guarded: a failing round is logged with its traceback and the loop goes on.
"""

import logging
import threading

log = logging.getLogger(__name__)

SUPER_LOAD_CHECK_INTERVAL = 2.0  # seconds, as in v1 (docs/architecture.md#scheduling-and-loads step 5)


class BackgroundLoops:
    def __init__(self, settings, service, *, spawn):
        self._settings = settings
        self._service = service
        self._spawn = spawn
        self._stopped = threading.Event()

    def start(self) -> None:
        s, svc = self._settings, self._service
        self._spawn(self._every, "meta-gc", s.gc_meta_interval, lambda: (svc.gc_tasks(), svc.gc_peers()))
        self._spawn(self._every, "disk-gc", s.gc_disk_interval, svc.gc_disk)
        self._spawn(self._every, "super-load", SUPER_LOAD_CHECK_INTERVAL, svc.reset_stale_super_loads)

    def stop(self) -> None:
        self._stopped.set()

    def _every(self, name: str, interval: float, round_fn) -> None:
        if self._stopped.wait(self._settings.gc_initial_delay):
            return
        while not self._stopped.is_set():
            try:
                round_fn()
            except Exception:
                log.exception("background round failed loop=%s", name)
            if self._stopped.wait(interval):
                return
