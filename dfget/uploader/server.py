"""The upload server process (docs/architecture.md#the-upload-servers-life-cycle): bind, serve, sweep, idle out, shut
down.

HTTP is served by werkzeug's threaded WSGI server on a socket we bind ourselves (so a busy port
can be probed and skipped instead of aborting). Threads rather than gevent: each piece request
is a disk read plus a socket send, both of which release the GIL, and a thread server needs no
monkey patching, so `dfget server` works the same whether it is started from the dfget CLI
(where requests/ssl are already imported) or as `python -m dfget.uploader.command`.
"""

import errno
import logging
import os
import shutil
import signal
import socket
import threading
from dataclasses import dataclass

from common.dfget_files import flight_file_name, service_file_name
from common.protocol import paths
from common.protocol.messages import HEADER_CLIENT_KEY, ServiceDownRequest
from common.shell.files import remove_file
from dfget.uploader import meta
from dfget.uploader.core import policy
from dfget.uploader.meta import connect_host
from dfget.uploader.state import UploadState

# requests, werkzeug and Flask (the app) are imported where they are used: dfget imports this
# module to start a server, and `serve` binds and announces its port before paying for them.

log = logging.getLogger(__name__)

PORT_LINE = "dfget uploader server port is {port}"
SERVICE_DOWN_TIMEOUT = 3.0
PING_TIMEOUT = 1.0


@dataclass(frozen=True)
class ServerOptions:
    data_dir: str
    meta_path: str
    ip: str = ""
    port: int = 0
    expire_time: float = 180.0
    alive_time: float = 300.0
    listen_fd: int = -1  # a socket already bound and listening, handed over by dfget
    # the task of the dfget that started the server, known before the first request is served
    # (peers may ask for its pieces early: docs/architecture.md#the-upload-servers-life-cycle)
    first_task: str = ""


def _session():
    import requests

    s = requests.Session()
    s.trust_env = False  # never send loopback traffic through an HTTP proxy from the environment
    return s


def probe(ip: str, port: int) -> "str | None":
    """Ping an upload server: its data-dir id ('' for a v1 server), or None if nothing answers."""
    import requests

    from dfget.uploader.app import HEADER_DATA_DIR_ID

    try:
        with _session() as s:
            r = s.get(f"http://{connect_host(ip)}:{port}{paths.UPLOAD_PING}", timeout=PING_TIMEOUT)
    except requests.RequestException:
        return None
    if r.status_code != 200 or r.text != "success":
        return None
    return r.headers.get(HEADER_DATA_DIR_ID, "")


def service_down(super_node: str, task_id: str, cid: str, client_key: str = "", *, session=None) -> None:
    """Tell the supernode this peer no longer serves the task (GET /peer/service/down), with the
    registration's client key when dfget passed one on (a v1 dfget does not). `super_node` is
    `host[:port]` as a local dfget sent it; the URL is built here, never taken from a request,
    and no redirect is followed (issue 11 item 9)."""
    from common.errors import BadInput

    try:
        url = policy.super_node_base_url(super_node) + paths.PEER_SERVICE_DOWN
    except BadInput as e:
        log.warning("service down task=%s cid=%s: not sent: %s", task_id, cid, e)
        return
    query = ServiceDownRequest(task_id=task_id, cid=cid).query()
    import requests

    try:
        with (session or _session)() as s:
            r = s.get(
                url,
                params=query,
                headers={HEADER_CLIENT_KEY: client_key} if client_key else None,
                timeout=SERVICE_DOWN_TIMEOUT,
                allow_redirects=False,
            )
        log.info(
            "service down task=%s cid=%s superNode=%s status=%d body=%s",
            task_id,
            cid,
            super_node,
            r.status_code,
            r.text[:200],
        )
    except requests.RequestException as e:
        log.warning("service down task=%s cid=%s superNode=%s failed: %s", task_id, cid, super_node, e)


@dataclass(frozen=True)
class Bound:
    sock: "socket.socket | None"  # None: another server of ours already listens on `port`
    port: int


def bind(options: ServerOptions, now: float, ping=probe) -> Bound:
    """Bind the first free candidate port, or find this host's upload server already there."""
    sock, port = bind_listener(options.ip, options.port, now, ping)
    return Bound(sock, port)


def bind_listener(ip: str, port: int, now: float, ping=probe) -> "tuple[socket.socket | None, int]":
    """(listening socket, port), or (None, port) where an upload server already listens.

    One upload server per host serves every home that registers its files with it (as in v1), so
    any upload server found on a candidate port is reused, whichever program or home started it.
    An explicit `port` is the only one tried. Otherwise the ports derived from the clock (every
    dfget of the host agrees on them, so they find each other's server), then any free port: a
    busy neighbourhood must never switch P2P off."""
    last_error: OSError | None = None
    for candidate in policy.port_candidates(port, now):
        try:
            return _listen(ip, candidate), candidate
        except OSError as e:
            last_error = e
            if e.errno != errno.EADDRINUSE:
                continue
            if ping(ip, candidate) is not None:
                log.info("an upload server already listens on port %d; reusing it", candidate)
                return None, candidate
            log.info("port %d is in use by something else than an upload server", candidate)
    if port <= 0:
        sock = _listen(ip, 0)
        return sock, sock.getsockname()[1]
    raise OSError(getattr(last_error, "errno", errno.EADDRINUSE), f"port {port} is not free: {last_error}")


def _listen(ip: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip or "0.0.0.0", port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


SOCKET_TIMEOUT = 30.0  # s a connection may stay silent (request headers, or a peer not reading)


def _quiet_handler():
    from werkzeug.serving import WSGIRequestHandler

    class _QuietHandler(WSGIRequestHandler):
        """Request lines go to our log at debug level instead of stderr; every socket operation
        has a deadline; a cut upload closes its connection."""

        timeout = SOCKET_TIMEOUT

        def log(self, type: str, message: str, *args) -> None:
            (log.warning if type == "error" else log.debug)("%s " + message, self.address_string(), *args)

        def connection_dropped(self, error, environ=None) -> None:
            log.info("upload to %s cut: %s", self.address_string(), error)
            self.close_connection = True

        def handle_one_request(self) -> None:
            self.server.head_started(self.connection)  # the head deadline runs (budget.py)
            super().handle_one_request()

        def parse_request(self) -> bool:
            ok = super().parse_request()
            self.server.head_done(self.connection)
            return ok

    return _QuietHandler


class UploadServer:
    """One running upload server: HTTP thread, expiry sweep, idle monitor, orderly shutdown."""

    def __init__(
        self, options: ServerOptions, state: UploadState, sock: socket.socket, port: int, *, down=service_down
    ):
        self.options, self.state, self.port, self._down = options, state, port, down
        self.stop = threading.Event()
        self.reason = ""
        from dfget.uploader.app import create_upload_app
        from dfget.uploader.budget import capped_server_class

        app = create_upload_app(state, sleep=self.stop.wait)  # throttling waits end when we stop
        self.http = capped_server_class()(
            options.ip or "0.0.0.0", port, app, handler=_quiet_handler(), fd=sock.fileno()
        )
        sock.close()
        self._threads = [
            threading.Thread(
                target=self.http.serve_forever, kwargs={"poll_interval": 0.2}, name="upload-http", daemon=True
            ),
            threading.Thread(target=self._expiry_loop, name="upload-expiry", daemon=True),
            threading.Thread(target=self._idle_loop, name="upload-idle", daemon=True),
            threading.Thread(target=self._head_loop, name="upload-heads", daemon=True),
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def request_stop(self, reason: str) -> None:
        if not self.stop.is_set():
            self.reason = reason
            self.stop.set()

    # ---- background loops ------------------------------------------------------------------

    def _expiry_loop(self) -> None:
        while not self.stop.wait(policy.EXPIRE_INTERVAL):
            try:
                self.sweep()
            except Exception:
                log.exception("data expiry sweep failed")

    def _head_loop(self) -> None:
        while not self.stop.wait(1.0):
            self.http.cut_slow_heads()

    def _idle_loop(self) -> None:
        if self.state.alive_time <= 0:
            return
        while not self.stop.is_set():
            if self.state.idle():
                self.request_stop(f"no request for {self.state.alive_time:g}s")
                return
            self.stop.wait(min(max(self.state.seconds_until_idle(), 0.05), 5.0))

    def sweep(self) -> None:
        """One pass of docs/architecture.md#the-upload-servers-life-cycle over every data directory: ours fully, another
        home's only for
        the expired files of its tasks."""
        for data_dir in self.state.data_dirs():
            self._sweep_dir(data_dir, own=data_dir == self.state.data_dir)

    def _sweep_dir(self, data_dir: str, own: bool) -> None:
        entries = []
        try:
            with os.scandir(data_dir) as it:
                for e in it:
                    st = e.stat(follow_symlinks=False)
                    entries.append(policy.DataEntry(e.name, e.is_dir(follow_symlinks=False), st.st_mtime))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return
        plan = policy.plan_expiry(
            entries, self.state.views(data_dir), self.state.clock.time(), self.state.expire_time, own=own
        )
        for name in plan.remove_dirs:
            log.info("expiry: removing directory %s", name)
            shutil.rmtree(os.path.join(data_dir, name), ignore_errors=True)
        for name in plan.delete_files:
            log.info("expiry: removing file of unknown task %s", name)
            remove_file(os.path.join(data_dir, name))
        for file_name, task_name in plan.expire:
            task = self.state.forget(task_name)
            log.info("expiry: task %s expired", task_name)
            if task is not None and task.super_node:
                self._down(task.super_node, task.task_id, task.cid, task.client_key)
            remove_file(os.path.join(data_dir, file_name))

    # ---- shutdown --------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop serving, give up host.meta, report finished tasks down and delete their files."""
        log.info("upload server on port %d shutting down: %s", self.port, self.reason or "stopped")
        self.stop.set()
        self.http.shutdown()
        self.http.server_close()
        if meta.read_port(self.options.meta_path) == self.port:
            meta.write_port(self.options.meta_path, 0)
        meta.clear_pid(self.options.meta_path)
        for task in self.state.tasks():
            if not task.finished:
                continue
            if task.super_node:
                self._down(task.super_node, task.task_id, task.cid, task.client_key)
            path = os.path.join(task.data_dir, service_file_name(task.name))
            remove_file(path)
            remove_file(os.path.join(task.data_dir, flight_file_name(task.name)))  # normally gone with its dfget
            log.info("shutdown: removed task=%s file=%s", task.task_id, path)


def install_signal_handlers(server: UploadServer) -> None:
    def handler(signum, _frame):
        server.request_stop(f"signal {signal.Signals(signum).name}")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def serve(options: ServerOptions, clock, announce, *, down=service_down, signals: bool = True) -> int:
    """Run the server until a signal or idleness; `announce(port)` prints the port line."""
    os.makedirs(options.data_dir, exist_ok=True)
    state = UploadState(options.data_dir, clock, expire_time=options.expire_time, alive_time=options.alive_time)
    if options.first_task:
        state.register(policy.check_task_file_name(options.first_task))
    if options.listen_fd >= 0:  # dfget bound it and announced the port already
        sock = socket.socket(fileno=options.listen_fd)
        bound = Bound(sock, sock.getsockname()[1])
    else:
        bound = bind(options, clock.time())
    if bound.sock is None:  # our data dir's server is already there: point host.meta at it
        meta.write_port(options.meta_path, bound.port)
        announce(bound.port)
        return 0
    # The socket listens already: announce now, so that dfget can register with the supernode
    # while we import the HTTP stack; requests that arrive meanwhile wait in the listen backlog.
    announce(bound.port)
    server = UploadServer(options, state, bound.sock, bound.port, down=down)
    if signals:
        install_signal_handlers(server)
    meta.write_port(options.meta_path, bound.port)  # before serving: a /check answered means host.meta is there
    meta.write_pid(options.meta_path)
    server.start()
    log.info("upload server listening on %s:%d data=%s", options.ip or "0.0.0.0", bound.port, state.data_dir)
    while not server.stop.wait(1.0):
        pass
    server.shutdown()
    return 0
