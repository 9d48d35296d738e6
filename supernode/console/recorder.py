"""The service's handle on the console ledger: a lock and the clock around the pure Ledger.
Effects run outside the service lock, on any greenlet or CDN thread, hence a lock of its own."""

import threading

from supernode.console.core.ledger import Ledger


class ConsoleRecorder:
    def __init__(self, clock, ledger: "Ledger | None" = None):
        self.clock = clock
        self.ledger = ledger or Ledger()
        self._lock = threading.Lock()

    def delivered(self, effect) -> None:
        with self._lock:
            self.ledger.delivered(effect.task_id, effect.nbytes, effect.client, effect.source, self.clock.time())

    def back_source(self, ip: str, task_id: str, nbytes: int) -> None:
        with self._lock:
            self.ledger.back_source(ip, task_id, nbytes, self.clock.time())

    def origin(self, nbytes: int) -> None:
        with self._lock:
            self.ledger.origin(nbytes, self.clock.time())

    def view(self) -> dict:
        with self._lock:
            return self.ledger.view(self.clock.time())
