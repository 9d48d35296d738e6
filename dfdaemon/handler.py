"""The HTTP request handler: classify (core/rules.py), then serve locally, through dfget or directly.

One handler instance serves one client connection (HTTP/1.1 keep-alive honoured; docker sends
`Connection: close`). Hijacked HTTPS connections get a subclass whose `hijacked` names the
CONNECT target: their origin-form requests are treated as absolute `https://<host>` URLs.
"""

import json
import logging
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from common.protocol import paths
from common.version import BUILD_DATE, REVISION, VERSION, arch, runtime_version
from dfdaemon import tunnel
from dfdaemon.core import rules
from dfdaemon.core.framing import CHUNKED, LENGTH, AmbiguousFraming, body_framing
from dfdaemon.core.verify import DigestMismatch
from dfdaemon.metrics import CONTENT_TYPE
from dfdaemon.reply import Reply
from dfdaemon.upstream import CHUNK, Tls, UpstreamError, identity_only, relay

log = logging.getLogger(__name__)
LOCAL_PATHS = (paths.DFDAEMON_ARGS, paths.DFDAEMON_ENV, paths.DFDAEMON_VERSION, paths.METRICS)


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"dfdaemon/{VERSION}"
    # Headers and body leave in separate writes: with Nagle on, every small answer (manifests,
    # tokens, /debug) waited for the client's delayed ACK, about 40 ms.
    disable_nagle_algorithm = True
    hijacked = None  # (host, port, HijackHost rule) on a decrypted CONNECT connection
    _framing = ("none", 0)  # (kind, length) of the current request body, set by dispatch

    def log_message(self, fmt, *args):
        log.debug("%s %s", self.address_string(), fmt % args)

    @property
    def daemon(self):
        return self.server.daemon

    def do_CONNECT(self):
        if self.hijacked:
            return Reply(self).simple(405, b"CONNECT inside a hijacked connection\n")
        tunnel.handle_connect(self)

    def dispatch(self):
        d = self.daemon
        headers = list(self.headers.items())
        try:
            self._framing = body_framing(headers)
        except AmbiguousFraming as e:
            log.info("refused a request with ambiguous framing from %s: %s", self.address_string(), e)
            self.close_connection = True
            return Reply(self).simple(400, f"bad request: {e}\n".encode(), extra=[("Connection", "close")])
        try:
            if self.hijacked:
                host, port, rule = self.hijacked
                netloc = self.headers.get("Host") or (host if port == 443 else f"{host}:{port}")
                url = f"https://{netloc}{self.path}"
                d.metrics.requests.labels("connect_hijack").inc()
                return self._proxy(url, headers, Tls(rule.insecure, tuple(rule.certs)))
            if self.path.startswith(("http://", "https://")):
                d.metrics.requests.labels("proxy").inc()
                insecure, certs = rules.tls_options(self.path, None, d.cfg.hijack_hosts)
                return self._proxy(self.path, headers, Tls(insecure or not certs, certs))
            if urlsplit(self.path).path in LOCAL_PATHS and self.command in ("GET", "HEAD"):
                d.metrics.requests.labels("local").inc()
                return self._local(urlsplit(self.path).path)
            route = rules.route_mirror(self.command, self.path, d.mirror)
            d.metrics.requests.labels("mirror_layer" if route.dfget else "mirror").inc()
            tls = Tls(d.mirror.insecure, tuple(d.mirror.certs))
            if route.dfget:
                return d.layers.serve(Reply(self), route, headers, tls)
            return self._direct(route, headers, tls)
        except (BrokenPipeError, ConnectionResetError) as e:
            log.info("client %s went away: %s", self.address_string(), e)
            self.close_connection = True
        except Exception:  # a bug: log it, and make the broken answer visible by closing
            log.exception("error serving %s %s", self.command, self.path)
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = dispatch

    def _proxy(self, url: str, headers, tls: Tls) -> None:
        route = rules.route_proxy(self.command, url, self.daemon.cfg.proxies)
        if route.dfget:
            return self.daemon.layers.serve(Reply(self), route, headers, tls)
        return self._direct(route, headers, tls)

    def _direct(self, route: rules.Route, headers, tls: Tls) -> None:
        reply = Reply(self)
        digest = route.digest if self.command == "GET" else ""
        if self.command in ("GET", "HEAD"):  # docker resolves a tag with HEAD, then GETs by digest
            self.daemon.tags.saw(route.url)  # a manifest names the tag its layers will get
        fwd = rules.forward_headers(headers)
        try:
            resp = self.daemon.upstream.open(
                self.command, route.url, identity_only(fwd) if digest else fwd, tls, body=self._body()
            )
        except UpstreamError as e:
            self.daemon.metrics.upstream_errors.inc()
            log.warning("direct request failed: %s", e)
            return reply.simple(503, f"{e}\n".encode())
        try:
            relay(reply, resp, digest)
        except DigestMismatch:
            self.daemon.metrics.digest_mismatch.inc()

    def _body(self):
        """The request body as a generator (None without one); chunked bodies are de-chunked."""
        kind, length = self._framing
        if kind == LENGTH and length > 0:
            return _read_exact(self.rfile, length)
        if kind == CHUNKED:
            return _read_chunked(self.rfile)
        return None

    def _local(self, path: str) -> None:
        d, reply = self.daemon, Reply(self)
        if path == paths.DFDAEMON_ARGS:
            return reply.simple(200, (" ".join(d.argv) + "\n").encode())
        if path == paths.DFDAEMON_ENV:
            body = json.dumps(d.cfg.as_yaml_tree(), indent=2, default=str).encode()
            return reply.simple(200, body, "application/json")
        if path == paths.DFDAEMON_VERSION:
            body = json.dumps(
                {
                    "version": VERSION,
                    "revision": REVISION,
                    "buildDate": BUILD_DATE,
                    "goVersion": runtime_version(),
                    "os": "linux",
                    "arch": arch(),
                }
            ).encode()
            return reply.simple(200, body, "application/json")
        return reply.simple(200, d.metrics.render(), CONTENT_TYPE)


def _read_exact(rfile, n: int):
    while n > 0:
        data = rfile.read(min(CHUNK, n))
        if not data:
            raise ConnectionResetError("request body cut short")
        n -= len(data)
        yield data


def _read_chunked(rfile):
    while True:
        size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return
        yield from _read_exact(rfile, size)
        rfile.readline()
