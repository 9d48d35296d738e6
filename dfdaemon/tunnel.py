"""CONNECT (docs/architecture.md#dfdaemon-the-path-of-one-blob): a plain TCP tunnel, or — for hosts matching a
`hijack_https` rule when a
hijack certificate is configured — TLS terminated here and the decrypted requests served like
proxy requests (so layers of an HTTPS registry can go through dfget)."""

import logging
import socket
import ssl
import threading

from dfdaemon.core import rules
from dfdaemon.reply import Reply

log = logging.getLogger(__name__)
DIAL_TIMEOUT = 10.0
BUF = 64 * 1024


def split_target(target: str) -> "tuple[str, int]":
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return target.strip("[]"), 443
    return host.strip("[]"), int(port)


def handle_connect(h) -> None:
    d = h.daemon
    host, port = split_target(h.path)
    if not host or not 0 < port < 65536:
        return Reply(h).simple(400, f"bad CONNECT target {h.path[:100]!r}\n".encode())
    if not rules.connect_allowed(host, port, d.cfg.connect_allow, d.cfg.hijack_hosts):
        d.metrics.requests.labels("connect_refused").inc()
        log.warning("CONNECT to %s:%d refused: no connect_allow rule matches", host, port)
        return Reply(h).simple(403, f"CONNECT to {host}:{port} is not allowed\n".encode())
    rule = rules.hijack_rule(host, d.cfg.hijack_hosts) if d.minter is not None else None
    if rule is not None:
        d.metrics.requests.labels("connect_hijack").inc()
        return _hijack(h, host, port, rule)
    d.metrics.requests.labels("connect_tunnel").inc()
    _tunnel(h, host, port)


def _established(h) -> None:
    h.send_response(200, "OK")
    h.end_headers()
    h.wfile.flush()


def _tunnel(h, host: str, port: int) -> None:
    try:
        upstream = socket.create_connection((host, port), timeout=DIAL_TIMEOUT)
    except (OSError, ValueError) as e:  # ValueError: a host name IDNA cannot encode
        return Reply(h).simple(503, f"cannot reach {host}:{port}: {e}\n".encode())
    upstream.settimeout(None)
    h.close_connection = True
    _established(h)

    def down():
        _pump(upstream.recv, h.connection.sendall)
        _shut(h.connection)

    t = threading.Thread(target=down, name=f"tunnel-{host}", daemon=True)
    t.start()
    _pump(lambda n: h.rfile.read1(n), upstream.sendall)
    _shut(upstream)
    t.join(timeout=DIAL_TIMEOUT)
    upstream.close()


def _pump(read, write) -> None:
    try:
        while True:
            data = read(BUF)
            if not data:
                return
            write(data)
    except OSError:
        return


def _shut(sock) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _upstream_reachable(host: str, port: int, rule: rules.HijackHost) -> "str | None":
    ctx = ssl.create_default_context()
    if rule.insecure:
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    for ca in rule.certs:
        ctx.load_verify_locations(cafile=ca)
    try:
        with (
            socket.create_connection((host, port), timeout=DIAL_TIMEOUT) as raw,
            ctx.wrap_socket(raw, server_hostname=host),
        ):
            return None
    except (OSError, ssl.SSLError) as e:
        return str(e)


def _hijack(h, host: str, port: int, rule: rules.HijackHost) -> None:
    from dfdaemon.handler import ProxyHandler

    d = h.daemon
    h.close_connection = True
    try:
        context = d.minter.context_for(host)
    except Exception as e:  # noqa: BLE001 - a certificate problem is ours; tell the client
        log.error("cannot make a certificate for %s: %s", host, e)
        return Reply(h).simple(503, b"cannot make a certificate\n")
    _established(h)
    try:
        tls_sock = context.wrap_socket(h.connection, server_side=True)
    except (OSError, ssl.SSLError) as e:
        log.info("TLS handshake with the client for %s failed: %s", host, e)
        return
    problem = _upstream_reachable(host, port, rule)
    if problem:
        log.warning("hijacked %s:%d is not reachable over TLS: %s", host, port, problem)
        tls_sock.close()
        return
    inner = type("HijackedHandler", (ProxyHandler,), {"hijacked": (host, port, rule)})
    try:
        inner(tls_sock, h.client_address, h.server)
    finally:
        try:
            tls_sock.close()
        except OSError:
            pass
