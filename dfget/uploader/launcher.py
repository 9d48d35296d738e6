"""dfget's side of the upload server: start-or-reuse it, report a finished task, ask for a rate.

`ensure_server` follows spec §7.1: reuse the server recorded in host.meta if it answers
`/check/<taskFileName>` with `<taskFileName>@<version>` (which also registers the task); else,
under an exclusive flock on the meta directory, re-check and spawn a detached `dfget server`,
read its port line, and verify it with `/check`. Every wait is bounded by one deadline.
"""
import fcntl
import logging
import os
import re
import selectors
import subprocess
import sys
import time
from urllib.parse import quote

import requests

from common.errors import DragonflyError
from common.protocol import paths
from common.protocol.messages import (HEADER_DATA_DIR, HEADER_RATE_LIMIT, HEADER_TOTAL_LIMIT,
                                      ClientFinishRequest)
from common.units import format_duration
from common.version import VERSION
from dfget.uploader import meta
from dfget.uploader.server import connect_host

log = logging.getLogger(__name__)

HTTP_TIMEOUT = 2.0
_PORT_LINE = re.compile(rb"dfget uploader server port is\s+(\d+)")
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class UploaderStartError(DragonflyError):
    """The local upload server could not be started or reached (dfget falls back to cdn)."""


def _session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def _url(ip: str, port: int, path: str) -> str:
    return f"http://{connect_host(ip)}:{port}{path}"


def check_server(ip: str, port: int, task_file_name: str, data_dir: str, total_limit: int,
                 timeout: float = HTTP_TIMEOUT) -> bool:
    """True if our upload server listens on `port` (and now knows the task)."""
    if port <= 0:
        return False
    headers = {HEADER_DATA_DIR: data_dir, HEADER_TOTAL_LIMIT: str(int(total_limit))}
    path = paths.upload_check_path(quote(task_file_name, safe=""))
    try:
        with _session() as s:
            r = s.get(_url(ip, port, path), headers=headers, timeout=max(timeout, 0.05))
    except requests.RequestException:
        return False
    return r.status_code == 200 and r.text.strip() == f"{task_file_name}@{VERSION}"


def _duration_flag(value) -> str:
    return value if isinstance(value, str) else format_duration(float(value))


def server_argv(*, home, data_dir, meta_path, ip, port, expire_time, alive_time, verbose,
                dfget_argv0=None) -> "list[str]":
    flags = ["--ip", ip or "", "--port", str(int(port)), "--meta", meta_path, "--data", data_dir,
             "--home", home, "--expiretime", _duration_flag(expire_time),
             "--alivetime", _duration_flag(alive_time)] + (["--verbose"] if verbose else [])
    if dfget_argv0:
        return [dfget_argv0, "server", *flags]
    return [sys.executable, "-m", "dfget.uploader.command", *flags]


def _child_env() -> dict:
    """Make `python -m dfget.uploader.command` importable from a source checkout too."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
    return env


def _read_port(proc: subprocess.Popen, deadline: float) -> int:
    """The port from the child's `dfget uploader server port is N` line, before the deadline."""
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            m = _PORT_LINE.search(buf)
            if m and b"\n" in buf[m.end():]:
                return int(m.group(1))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise UploaderStartError("the upload server did not report its port in time")
            if not sel.select(remaining):
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                if m:
                    return int(m.group(1))
                code = proc.poll()
                raise UploaderStartError(f"the upload server exited (status {code}) without reporting a port")
            buf += chunk


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


def ensure_server(*, home: str, data_dir: str, meta_path: str, ip: str, port: int,
                  expire_time, alive_time, verbose: bool, task_file_name: str, total_limit: int,
                  dfget_argv0: "str | None" = None, timeout: float = 5.0, on_spawn=None) -> int:
    """The port of this host's upload server, started if needed; the task is registered with it.

    `expire_time`/`alive_time` are seconds or Go duration strings. `on_spawn(proc)` is called with
    the Popen of a newly spawned server (tests use it to stop the process they caused).
    """
    deadline = time.monotonic() + timeout
    data_dir, meta_path = os.path.abspath(data_dir), os.path.abspath(meta_path)
    known = meta.read_port(meta_path)
    if check_server(ip, known, task_file_name, data_dir, total_limit):
        return known
    argv = server_argv(home=home, data_dir=data_dir, meta_path=meta_path, ip=ip, port=port,
                       expire_time=expire_time, alive_time=alive_time, verbose=verbose, dfget_argv0=dfget_argv0)
    try:
        return _start_locked(deadline, argv, ip=ip, data_dir=data_dir, meta_path=meta_path,
                             task_file_name=task_file_name, total_limit=total_limit, on_spawn=on_spawn)
    except OSError as e:
        raise UploaderStartError(f"cannot start the upload server: {e}") from e


def _start_locked(deadline: float, argv: "list[str]", *, ip, data_dir, meta_path, task_file_name,
                  total_limit, on_spawn) -> int:
    """Under the meta-dir lock: re-check host.meta, else spawn `argv` and wait for its port."""
    with _MetaDirLock(os.path.dirname(meta_path), deadline):
        known = meta.read_port(meta_path)
        if check_server(ip, known, task_file_name, data_dir, total_limit):
            return known
        log.info("starting the upload server: %s", " ".join(argv))
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
                                env=_child_env(), cwd="/")
        if on_spawn is not None:
            on_spawn(proc)
        try:
            started = _read_port(proc, deadline)
        finally:
            proc.stdout.close()
        while not check_server(ip, started, task_file_name, data_dir, total_limit,
                               timeout=min(HTTP_TIMEOUT, deadline - time.monotonic())):
            if time.monotonic() >= deadline:
                raise UploaderStartError(f"the upload server on port {started} does not answer /check")
            time.sleep(0.02)
        return started


def client_finish(port: int, task_file_name: str, task_id: str, cid: str, super_node: str, *,
                  ip: str = "", timeout: float = HTTP_TIMEOUT) -> bool:
    """Tell the upload server the task's file is complete (GET /client/finish)."""
    query = ClientFinishRequest(task_file_name=task_file_name, task_id=task_id, cid=cid,
                                super_node=super_node).query()
    try:
        with _session() as s:
            r = s.get(_url(ip, port, paths.UPLOAD_CLIENT_FINISH), params=query, timeout=timeout)
    except requests.RequestException as e:
        log.warning("client finish task=%s on port %d failed: %s", task_file_name, port, e)
        return False
    return r.status_code == 200


def request_rate(port: int, task_file_name: str, rate: int, *, ip: str = "",
                 timeout: float = HTTP_TIMEOUT) -> int:
    """This task's share of the host-wide limit (GET /rate); the asked rate if the server fails."""
    path = paths.upload_rate_path(quote(task_file_name, safe=""))
    try:
        with _session() as s:
            r = s.get(_url(ip, port, path), headers={HEADER_RATE_LIMIT: str(int(rate))}, timeout=timeout)
        if r.status_code == 200 and r.text.strip().isdigit():
            return int(r.text.strip())
        log.warning("rate task=%s on port %d: HTTP %d %s", task_file_name, port, r.status_code, r.text[:100])
    except requests.RequestException as e:
        log.warning("rate task=%s on port %d failed: %s", task_file_name, port, e)
    return int(rate)
