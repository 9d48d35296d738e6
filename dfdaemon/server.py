"""The dfdaemon server and its composition root.

Server choice: the standard library's ThreadingHTTPServer with our own handler, one thread per
client connection. dfdaemon must (a) stream a layer while dfget is still writing it, (b) take
over the raw socket of a CONNECT to tunnel it or to terminate TLS on it and serve HTTP inside,
and (c) pass repeated request headers on exactly. A WSGI stack (Flask/gunicorn, gevent pywsgi)
hides the socket behind `environ`, so CONNECT hijacking becomes server-specific hacks, and a
WSGI app cannot abort a response visibly. BaseHTTPRequestHandler gives the socket, the parsed
header list with repeats, and full control over what is written. Threads fit the work: blocking
subprocess pipes, file reads and urllib3 calls need no monkey-patching, and the load is one
docker daemon pulling a few layers at a time, not thousands of connections.

`Daemon` builds every service from the frozen config (no module globals); `start()` binds and
serves in a background thread (tests use port 0), `serve_forever()` is the CLI's foreground loop.
"""

import logging
import os
import ssl
import threading
from http.server import ThreadingHTTPServer

from dfdaemon import settings
from dfdaemon.blobs import LayerServer
from dfdaemon.cleaner import RepoCleaner
from dfdaemon.downloader import DfgetProcess
from dfdaemon.downloads import Downloads
from dfdaemon.follow import holes_supported
from dfdaemon.handler import ProxyHandler
from dfdaemon.image_tags import RecentTags
from dfdaemon.inprocess import HostPeer
from dfdaemon.metrics import Metrics
from dfdaemon.upstream import Upstream

log = logging.getLogger(__name__)


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address, daemon, tls_context=None):
        self.daemon = daemon
        self.tls_context = tls_context
        super().__init__(address, ProxyHandler)

    def finish_request(self, request, client_address):
        if self.tls_context is not None:
            try:
                request = self.tls_context.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError) as e:
                log.info("TLS handshake with %s failed: %s", client_address, e)
                return
        super().finish_request(request, client_address)


class Daemon:
    def __init__(self, cfg, argv=(), host_peer: "HostPeer | None" = None):
        """`host_peer`: the in-process P2P client (tests inject one); unused with an external dfget."""
        self.cfg = cfg
        self.argv = list(argv)
        self.metrics = Metrics()
        self.mirror = settings.mirror(cfg)
        self.upstream = Upstream()
        data_dir = os.path.join(cfg.work_home, "data")
        os.makedirs(data_dir, exist_ok=True)
        os.makedirs(cfg.localrepo, exist_ok=True)
        self.streaming = holes_supported(data_dir)
        if not self.streaming:
            log.warning("%s does not report holes: layers are served once dfget has finished", data_dir)
        self.downloads = Downloads(
            cfg.localrepo,
            data_dir,
            cfg.layer_retention,
            self.streaming,
            runner=DfgetProcess if cfg.dfpath else (host_peer or HostPeer()).run,
        )
        self.tags = RecentTags()
        self.layers = LayerServer(
            self.downloads,
            self.upstream,
            self.metrics,
            settings.dfget_call(cfg),
            self.mirror,
            cfg.hijack_hosts,
            self.tags,
            cfg.direct_below,
        )
        self.minter = None
        if cfg.hijack_cert:
            from dfdaemon.tls import CertMinter

            self.minter = CertMinter(cfg.hijack_cert, cfg.hijack_key)
        self.cleaner = RepoCleaner(cfg.localrepo, self.downloads, cfg.clean_interval, cfg.clean_max_age)
        self.server = None
        self._thread = None

    def bind(self, host: "str | None" = None, port: "int | None" = None) -> int:
        tls = None
        if self.cfg.cert_pem:
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.load_cert_chain(self.cfg.cert_pem, self.cfg.key_pem)
        self.server = ProxyServer((host or self.cfg.host_ip, self.cfg.port if port is None else port), self, tls)
        return self.server.server_address[1]

    def start(self, host: "str | None" = None, port: "int | None" = None) -> int:
        """Bind and serve in a background thread; the bound port."""
        bound = self.bind(host, port)
        self.cleaner.start()
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), name="dfdaemon", daemon=True)
        self._thread.start()
        return bound

    def serve_forever(self) -> None:
        self.cleaner.start()
        try:
            self.server.serve_forever()
        finally:
            self.stop()

    def stop(self) -> None:
        self.cleaner.stop()
        if self.server is not None and self._thread is not None:
            self.server.shutdown()
        if self.server is not None:
            self.server.server_close()
        self.downloads.stop()
