"""A connection budget for the upload server (issue 11: assume every host may be hostile).

werkzeug's threaded server spends one thread per connection: a host opening thousands of slow
connections would get thousands of threads. `policy.admit_connection` decides; this shell counts.
A refused connection is closed at once (the peer tries another source).
"""
import logging
import threading

from dfget.uploader import policy

log = logging.getLogger(__name__)


def capped_server_class():
    """werkzeug's threaded server with a budget of connections (policy.admit_connection): one
    thread per connection, so a host opening thousands must not get thousands of threads."""
    from werkzeug.serving import ThreadedWSGIServer

    class CappedWSGIServer(ThreadedWSGIServer):
        max_total = policy.MAX_CONNECTIONS
        max_per_address = policy.MAX_CONNECTIONS_PER_ADDRESS

        def __init__(self, *args, **kwargs):
            self._budget_lock = threading.Lock()
            self._open: "dict[int, str]" = {}       # id(socket) -> peer address
            self.refused = 0
            super().__init__(*args, **kwargs)

        def verify_request(self, request, client_address) -> bool:
            addr = client_address[0] if client_address else ""
            try:
                local_addr = request.getsockname()[0]
            except OSError:
                local_addr = ""
            local = policy.is_local_request(addr, local_addr)
            with self._budget_lock:
                from_addr = sum(1 for a in self._open.values() if a == addr)
                if not policy.admit_connection(len(self._open), from_addr, local,
                                               self.max_total, self.max_per_address):
                    self.refused += 1
                    refused = self.refused
                    admitted = False
                else:
                    self._open[id(request)] = addr
                    admitted = True
            if not admitted and (refused & (refused - 1)) == 0:   # log 1, 2, 4, 8 ... refusals
                log.warning("connection from %s refused: too many open connections (%d refused)", addr, refused)
            return admitted

        def shutdown_request(self, request) -> None:
            with self._budget_lock:
                self._open.pop(id(request), None)
            super().shutdown_request(request)
    return CappedWSGIServer
