"""The supernode's gunicorn master: listening sockets bound beforehand, a stop that is bounded
(docs/stopping.md).

* The sockets come bound from `supernode.listeners` (gunicorn would retry a busy port for
  seconds with its signals waiting).
* Stop: the master closes its copies of the listening sockets, passes the signal on to the worker
  (SIGTERM graceful, SIGINT/SIGQUIT quick, see supernode/worker.py) and reaps it as soon as it
  exits. Any further stop signal meanwhile (a second SIGTERM, or SIGINT/SIGQUIT) makes the stop
  quick; a worker still there QUICK_BOUND seconds after a quick stop, or STOP_MARGIN after the
  graceful time, is killed. When the master is gone the worker is gone and the ports are free.
"""

import queue
import signal
import time

from gunicorn.arbiter import Arbiter
from gunicorn.sock import close_sockets, create_sockets

QUICK_BOUND = 1.0  # s a worker may take to leave after a quick stop before it is killed
STOP_MARGIN = 1.0  # s beyond graceful_timeout before a gracefully stopping worker is killed
REAP_CHECK = 0.005  # s between checks that the worker has exited
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


class SupernodeMaster(Arbiter):
    def __init__(self, app, sockets):
        super().__init__(app)
        self._bound = sockets

    def start(self):
        if self._bound:
            # gunicorn adopts (and closes) the descriptors it is given: no bind, no retries
            self.LISTENERS = create_sockets(self.cfg, self.log, [s.detach() for s in self._bound])
            self._bound = []
        super().start()

    def stop(self, graceful=True):
        close_sockets(self.LISTENERS, False)
        self.LISTENERS = []
        self.kill_workers(signal.SIGTERM if graceful else signal.SIGQUIT)
        deadline = time.monotonic() + (self.cfg.graceful_timeout + STOP_MARGIN if graceful else QUICK_BOUND)
        while self.WORKERS and time.monotonic() < deadline:
            if graceful and self._another_stop_signal():
                graceful = False
                self.log.info("second stop signal: stopping at once")
                self.kill_workers(signal.SIGQUIT)
                deadline = time.monotonic() + QUICK_BOUND
            self.reap_workers()
            if self.WORKERS:
                time.sleep(REAP_CHECK)
        self.kill_workers(signal.SIGKILL)
        self.reap_workers()

    def _another_stop_signal(self) -> bool:
        while True:
            try:
                sig = self.SIG_QUEUE.get_nowait()
            except queue.Empty:
                return False
            if sig in STOP_SIGNALS:
                return True
