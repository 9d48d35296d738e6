"""The supernode's two listening sockets, bound once by the `supernode` command before gunicorn
starts (docs/stopping.md).

gunicorn binds on its own by retrying a busy address five times, a second apart, while the
signals it receives wait in a queue: a supernode started on a busy port took seconds to fail, and
a SIGINT sent meanwhile was deferred. Binding here fails at once, with a line that names the flag,
and the sockets are handed to gunicorn already bound.
"""

import errno
import socket

LISTEN_BACKLOG = 2048  # gunicorn's default; gunicorn sets its configured backlog again on adoption


class PortUnavailable(Exception):
    """A port cannot be bound; the message names the address, the reason and the flag."""


def bind(address: str, ports: "list[tuple[str, int]]") -> "list[socket.socket]":
    """Bind `address` on each (flag, port); all or nothing (PortUnavailable, nothing left open)."""
    bound: list[socket.socket] = []
    try:
        for flag, port in ports:
            bound.append(_bind_one(address, port, flag))
    except PortUnavailable:
        for sock in bound:
            sock.close()
        raise
    return bound


def _bind_one(address: str, port: int, flag: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # as gunicorn binds: a restart may bind while connections of the old process are in TIME_WAIT
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
        # listen now: with SO_REUSEADDR a bind succeeds on a port another socket has bound but not
        # yet listens on (the same port given to both flags), and only listen() finds the clash
        sock.listen(LISTEN_BACKLOG)
    except OSError as e:
        sock.close()
        why = "in use by another process" if e.errno == errno.EADDRINUSE else (e.strerror or str(e))
        raise PortUnavailable(
            f"cannot listen on {address}:{port} ({why}); stop what holds it or choose another {flag}"
        ) from None
    sock.set_inheritable(True)  # the gevent worker serves it after gunicorn forks
    return sock
