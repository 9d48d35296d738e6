"""A connection budget for the upload server (issue 11: assume every host may be hostile).

werkzeug's threaded server spends one thread per connection: a host opening thousands of slow
connections would get thousands of threads. `policy.admit_connection` decides; this shell counts.
A refused connection is closed at once (the peer tries another source). A request head (request
line and headers; an idle keep-alive connection waits for one too) must arrive within
HEAD_DEADLINE: `cut_slow_heads()`, called every second, shuts the socket of any that did not,
so a host trickling a byte now and then cannot hold its slots for ever.
"""

import logging
import socket
import threading
import time

from dfget.uploader.core import policy

log = logging.getLogger(__name__)
HEAD_DEADLINE = 20.0  # s for a request line and its headers (dfget sends them in one packet)


def capped_server_class():
    """werkzeug's threaded server with a budget of connections (policy.admit_connection): one
    thread per connection, so a host opening thousands must not get thousands of threads."""
    from werkzeug.serving import ThreadedWSGIServer

    class CappedWSGIServer(ThreadedWSGIServer):
        max_total = policy.MAX_CONNECTIONS
        max_per_address = policy.MAX_CONNECTIONS_PER_ADDRESS

        head_deadline = HEAD_DEADLINE

        def __init__(self, *args, **kwargs):
            self._budget_lock = threading.Lock()
            self._open: dict[int, str] = {}  # id(socket) -> peer address
            self._heads: dict[int, tuple[socket.socket, float]] = {}  # waiting for a head since
            self.refused = 0
            self.cut = 0
            super().__init__(*args, **kwargs)

        def head_started(self, sock) -> None:
            with self._budget_lock:
                self._heads[id(sock)] = (sock, time.monotonic())

        def head_done(self, sock) -> None:
            with self._budget_lock:
                self._heads.pop(id(sock), None)

        def cut_slow_heads(self) -> int:
            """Shut every connection whose request head is overdue; how many were cut."""
            now = time.monotonic()
            with self._budget_lock:
                late = [sock for sock, since in self._heads.values() if now - since > self.head_deadline]
                for sock in late:
                    self._heads.pop(id(sock), None)
                self.cut += len(late)
            for sock in late:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # the handler's read returns: it ends
                except OSError:
                    pass
            return len(late)

        def verify_request(self, request, client_address) -> bool:
            addr = client_address[0] if client_address else ""
            try:
                local_addr = request.getsockname()[0]
            except OSError:
                local_addr = ""
            local = policy.is_local_request(addr, local_addr)
            with self._budget_lock:
                from_addr = sum(1 for a in self._open.values() if a == addr)
                if not policy.admit_connection(len(self._open), from_addr, local, self.max_total, self.max_per_address):
                    self.refused += 1
                    refused = self.refused
                    admitted = False
                else:
                    self._open[id(request)] = addr
                    admitted = True
            if not admitted and (refused & (refused - 1)) == 0:  # log 1, 2, 4, 8 ... refusals
                log.warning("connection from %s refused: too many open connections (%d refused)", addr, refused)
            return admitted

        def shutdown_request(self, request) -> None:
            with self._budget_lock:
                self._open.pop(id(request), None)
                self._heads.pop(id(request), None)
            super().shutdown_request(request)

    return CappedWSGIServer
