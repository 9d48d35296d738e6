"""The socket guard's shell on real (paired) sockets: what a read does when its deadline passes."""

import socket
import time

import pytest
from werkzeug.exceptions import RequestTimeout

from supernode.core.connections import Deadlines, Phase, ReadDeadline, Shedder
from supernode.socket_guard import GuardedSocket

SHORT = Deadlines(header_timeout=0.2, body_timeout=0.2, idle_timeout=0.2)


@pytest.fixture
def pair():
    server, client = socket.socketpair()
    server.settimeout(None)
    client.settimeout(5)
    yield server, client
    server.close()
    client.close()


def guarded(server, timeouts):
    shedder = Shedder.for_pool(100)
    conn = GuardedSocket(server, ReadDeadline.accepted(SHORT, time.monotonic()), timeouts.append, shedder)
    shedder.accepted(conn)
    return conn


def test_headers_past_the_deadline_get_408_then_the_stream_ends(pair):
    server, client = pair
    timeouts = []
    conn = guarded(server, timeouts)
    client.sendall(b"GET / HTTP/1.1\r\n")
    assert conn.recv(100) == b"GET / HTTP/1.1\r\n"
    assert conn.recv(100) == b""  # nothing more arrived before the deadline
    assert client.recv(100).startswith(b"HTTP/1.1 408")
    assert timeouts == [Phase.HEADER]
    client.sendall(b"Host: late\r\n\r\n")
    assert conn.recv(100) == b""  # an expired connection reads nothing more
    assert server.gettimeout() is None  # the socket's own timeout is left as it was


def test_a_body_past_its_deadline_raises_408_inside_the_handler(pair):
    server, client = pair
    timeouts = []
    conn = guarded(server, timeouts)
    conn.deadline.headers_done(time.monotonic())
    with pytest.raises(RequestTimeout):
        conn.recv(100)
    assert timeouts == [Phase.BODY]


def test_an_idle_connection_ends_quietly(pair):
    server, client = pair
    timeouts = []
    conn = guarded(server, timeouts)
    conn.deadline.response_done(time.monotonic())
    assert conn.recv(100) == b""
    client.setblocking(False)
    with pytest.raises(BlockingIOError):
        client.recv(100)  # no answer is sent to an idle connection
    assert timeouts == [Phase.IDLE]


def test_a_shorter_timeout_set_by_gunicorn_wins_and_is_raised(pair):
    server, _ = pair
    conn = guarded(server, [])
    conn.deadline = ReadDeadline.accepted(Deadlines(60, 60, 60), time.monotonic())
    server.settimeout(0.05)  # gunicorn's own bounded body drain
    with pytest.raises(socket.timeout):
        conn.recv(100)
    assert server.gettimeout() == 0.05


def test_a_shed_connection_wakes_its_blocked_read_with_the_end_of_the_stream(pair):
    server, _ = pair
    conn = guarded(server, [])
    conn.deadline = ReadDeadline.accepted(Deadlines(60, 60, 60), time.monotonic())
    conn.shed()
    assert conn.recv(100) == b""
