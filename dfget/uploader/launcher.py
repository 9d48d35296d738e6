"""dfget's side of the upload server: find or start it, register the task, report, ask for a rate.

Theory of operation (docs: the upload server's life cycle). A dfget needs the port of this host's
upload server before it registers with the supernode, and must never wait for a Python process to
start: on a loaded host that took longer than any sensible deadline and switched P2P off.

1. host.meta names a port and the server there answers `/check/<task>` -> reuse it.
2. Otherwise, under an exclusive flock on the meta directory (so that two dfget of one home start
   one server): re-check host.meta; bind the listening socket *here* — the derived port, its
   neighbours, then any free port (an explicit `--port` is the only one tried) — write host.meta,
   and hand the socket to a detached `dfget server --listen-fd N`. The port is live at once:
   peers that connect before the child serves wait in the listen backlog.
3. The task is registered with the server (`/check`) in the background, for as long as the server
   may take to come up; `Started.wait_registered` lets later calls (`/rate`, `/client/finish`)
   follow it. Only a port that cannot be bound or a process that cannot be spawned turns P2P off.
"""

import fcntl
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote

from common.errors import DragonflyError
from common.protocol import paths
from common.protocol.messages import (
    HEADER_CLIENT_KEY,
    HEADER_DATA_DIR,
    HEADER_RATE_LIMIT,
    HEADER_STREAMS_PIECES,
    HEADER_TOTAL_LIMIT,
    ClientFinishRequest,
)
from common.units import format_duration
from common.version import VERSION
from dfget.httpc import Client, HttpError
from dfget.uploader import meta
from dfget.uploader.meta import connect_host

log = logging.getLogger(__name__)

HTTP_TIMEOUT = 2.0
LOCK_TIMEOUT = 10.0  # s: another dfget of this home is starting the server
REGISTER_DEADLINE = 120.0  # s: how long a just-spawned server may take to answer its first /check
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class UploaderStartError(DragonflyError):
    """The local upload server could not be started or reached (dfget falls back to cdn)."""


def _get(ip: str, port: int, path: str, *, headers=None, params=None, timeout: float):
    """One GET to the local upload server on a fresh connection (plain http.client: dfget must
    not pay for importing `requests` at start-up)."""
    client = Client()
    try:
        return client.request("GET", connect_host(ip), port, path, headers=headers, params=params, timeout=timeout)
    finally:
        client.close()


def check_server(
    ip: str, port: int, task_file_name: str, data_dir: str, total_limit: int, timeout: float = HTTP_TIMEOUT
) -> bool:
    """True if our upload server listens on `port` (and now knows the task)."""
    return _check(ip, port, task_file_name, data_dir, total_limit, timeout) is not None


def _check(
    ip: str, port: int, task_file_name: str, data_dir: str, total_limit: int, timeout: float = HTTP_TIMEOUT
) -> "bool | None":
    """/check: None if our upload server does not listen on `port`; else whether it streams
    pieces still arriving (docs/decisions.md #25: it says so in HEADER_STREAMS_PIECES)."""
    if port <= 0:
        return None
    headers = {HEADER_DATA_DIR: data_dir, HEADER_TOTAL_LIMIT: str(int(total_limit))}
    path = paths.upload_check_path(quote(task_file_name, safe=""))
    try:
        r = _get(ip, port, path, headers=headers, timeout=max(timeout, 0.05))
    except HttpError:
        return None
    if r.status != 200 or r.text.strip() != f"{task_file_name}@{VERSION}":
        return None
    return r.headers.get(HEADER_STREAMS_PIECES, "").strip() == "1"


def _duration_flag(value) -> str:
    return value if isinstance(value, str) else format_duration(float(value))


def server_argv(
    *,
    home,
    data_dir,
    meta_path,
    ip,
    port,
    expire_time,
    alive_time,
    verbose,
    dfget_argv0=None,
    listen_fd: int = -1,
    task_file_name: str = "",
) -> "list[str]":
    flags = [
        "--ip",
        ip or "",
        "--port",
        str(int(port)),
        "--meta",
        meta_path,
        "--data",
        data_dir,
        "--home",
        home,
        "--expiretime",
        _duration_flag(expire_time),
        "--alivetime",
        _duration_flag(alive_time),
    ] + (["--verbose"] if verbose else [])
    if listen_fd >= 0:
        flags += ["--listen-fd", str(listen_fd)]
    if task_file_name:
        flags += ["--task", task_file_name]
    if dfget_argv0:
        return [dfget_argv0, "server", *flags]
    return [sys.executable, "-m", "dfget.uploader.command", *flags]


def _child_env() -> dict:
    """Make `python -m dfget.uploader.command` importable from a source checkout too."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
    return env


class _MetaDirLock:
    """An exclusive flock on the meta directory, acquired before a deadline."""

    def __init__(self, directory: str, deadline: float):
        self.directory, self.deadline, self.fd = directory, deadline, -1

    def __enter__(self):
        os.makedirs(self.directory, exist_ok=True)
        self.fd = os.open(self.directory, os.O_RDONLY)
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() >= self.deadline:
                    os.close(self.fd)
                    raise UploaderStartError(f"timed out waiting for the lock on {self.directory}") from None
                time.sleep(0.01)

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


@dataclass
class Started:
    """This dfget's upload server: its port, and whether it knows our task yet."""

    port: int
    streams_pieces: bool  # it streams a piece still arriving (docs/decisions.md #25)
    spawned: "subprocess.Popen | None" = None
    registered: threading.Event = field(default_factory=threading.Event)
    failed: str = ""

    def wait_registered(self, timeout: float) -> bool:
        return self.registered.wait(timeout)


def ensure_server(
    *,
    home: str,
    data_dir: str,
    meta_path: str,
    ip: str,
    port: int,
    expire_time,
    alive_time,
    verbose: bool,
    task_file_name: str,
    total_limit: int,
    dfget_argv0: "str | None" = None,
    on_spawn=None,
    on_failure=None,
    register_deadline: float = REGISTER_DEADLINE,
) -> Started:
    """This host's upload server for our home, found or started; never waits for a new process.

    `on_spawn(proc)` gets the Popen of a newly spawned server (tests stop what they caused);
    `on_failure(message)` is called (from a background thread) if a spawned server never came up."""
    data_dir, meta_path = os.path.abspath(data_dir), os.path.abspath(meta_path)
    os.makedirs(data_dir, exist_ok=True)  # a server of another home only accepts an existing directory
    known = meta.read_port(meta_path)
    streams = _check(ip, known, task_file_name, data_dir, total_limit)
    if streams is not None:
        return _already(known, streams)
    with _MetaDirLock(os.path.dirname(meta_path), time.monotonic() + LOCK_TIMEOUT):
        known = meta.read_port(meta_path)
        streams = _check(ip, known, task_file_name, data_dir, total_limit)
        if streams is not None:
            return _already(known, streams)
        # only here: the server module pulls in its policy and state (~15-45 ms of imports) that a
        # dfget reusing a running server never needs
        from dfget.uploader.server import bind_listener

        try:
            sock, bound = bind_listener(ip, port, time.time())
        except OSError as e:
            raise UploaderStartError(f"no port for the upload server: {e}") from None
        if sock is None:  # the host's upload server listens there (host.meta did not say so)
            streams = _check(ip, bound, task_file_name, data_dir, total_limit)
            if streams is None:
                raise UploaderStartError(f"the upload server on port {bound} does not answer /check")
            meta.write_port(meta_path, bound)
            return _already(bound, streams)
        with sock:
            argv = server_argv(
                home=home,
                data_dir=data_dir,
                meta_path=meta_path,
                ip=ip,
                port=bound,
                expire_time=expire_time,
                alive_time=alive_time,
                verbose=verbose,
                dfget_argv0=dfget_argv0,
                listen_fd=sock.fileno(),
                task_file_name=task_file_name,
            )
            try:
                proc = _spawn(argv, sock.fileno())
            except OSError as e:
                raise UploaderStartError(f"cannot start the upload server: {e}") from None
        meta.write_port(meta_path, bound)  # the port is live: the child owns the socket now
    if on_spawn is not None:
        on_spawn(proc)
    started = Started(bound, streams_pieces=True, spawned=proc)  # this very code: it streams
    threading.Thread(
        target=_register,
        name="upload-register",
        daemon=True,
        args=(started, ip, data_dir, task_file_name, total_limit, register_deadline, on_failure),
    ).start()
    return started


def _already(port: int, streams_pieces: bool) -> Started:
    started = Started(port, streams_pieces)
    started.registered.set()
    return started


def _spawn(argv: "list[str]", listen_fd: int) -> subprocess.Popen:
    log.info("starting the upload server: %s", " ".join(argv))
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
        pass_fds=(listen_fd,),
        env=_child_env(),
        cwd="/",
    )


def _register(started: Started, ip, data_dir, task_file_name, total_limit, deadline_s: float, on_failure) -> None:
    """/check until the new server answers (it registers the task), the process dies or the deadline."""
    deadline = time.monotonic() + deadline_s
    proc = started.spawned
    while True:
        if check_server(
            ip,
            started.port,
            task_file_name,
            data_dir,
            total_limit,
            timeout=max(min(5.0, deadline - time.monotonic()), 0.05),
        ):
            log.info("the upload server (pid %d) serves port %d", proc.pid if proc else -1, started.port)
            started.registered.set()
            return
        code = proc.poll() if proc is not None else None
        if code is not None or time.monotonic() >= deadline:
            why = f"exited with status {code}" if code is not None else f"did not answer within {deadline_s:g}s"
            started.failed = f"the upload server on port {started.port} {why}: this host shares no pieces"
            log.warning("%s", started.failed)
            if on_failure is not None:
                on_failure(started.failed)
            return
        time.sleep(0.05)


def client_finish(
    port: int,
    task_file_name: str,
    task_id: str,
    cid: str,
    super_node: str,
    *,
    ip: str = "",
    client_key: str = "",
    timeout: float = HTTP_TIMEOUT,
) -> bool:
    """Tell the upload server the task's file is complete (GET /client/finish)."""
    query = ClientFinishRequest(task_file_name=task_file_name, task_id=task_id, cid=cid, super_node=super_node).query()
    try:
        r = _get(
            ip,
            port,
            paths.UPLOAD_CLIENT_FINISH,
            params=query,
            timeout=timeout,
            headers={HEADER_CLIENT_KEY: client_key} if client_key else None,
        )
    except HttpError as e:
        log.warning("client finish task=%s on port %d failed: %s", task_file_name, port, e)
        return False
    return r.status == 200


def request_rate(port: int, task_file_name: str, rate: int, *, ip: str = "", timeout: float = HTTP_TIMEOUT) -> int:
    """This task's share of the host-wide limit (GET /rate); the asked rate if the server fails."""
    path = paths.upload_rate_path(quote(task_file_name, safe=""))
    try:
        r = _get(ip, port, path, headers={HEADER_RATE_LIMIT: str(int(rate))}, timeout=timeout)
        if r.status == 200 and r.text.strip().isdigit():
            return int(r.text.strip())
        log.warning("rate task=%s on port %d: HTTP %d %s", task_file_name, port, r.status, r.text[:100])
    except HttpError as e:
        log.warning("rate task=%s on port %d failed: %s", task_file_name, port, e)
    return int(rate)
