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
import threading
import time
from urllib.parse import quote

from common.errors import DragonflyError
from common.protocol import paths
from common.protocol.messages import (HEADER_CLIENT_KEY, HEADER_DATA_DIR, HEADER_RATE_LIMIT, HEADER_TOTAL_LIMIT,
                                      ClientFinishRequest)
from common.units import format_duration
from common.version import VERSION
from dfget.httpc import Client, HttpError
from dfget.uploader import meta
from dfget.uploader.server import connect_host

log = logging.getLogger(__name__)

HTTP_TIMEOUT = 2.0
_PORT_LINE = re.compile(rb"dfget uploader server port is\s+(\d+)")
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class UploaderStartError(DragonflyError):
    """The local upload server could not be started or reached (dfget falls back to cdn)."""


def _get(ip: str, port: int, path: str, *, headers=None, params=None, timeout: float):
    """One GET to the local upload server on a fresh connection (plain http.client: dfget must
    not pay for importing `requests` at start-up)."""
    client = Client()
    try:
        return client.request("GET", connect_host(ip), port, path, headers=headers, params=params,
                              timeout=timeout)
    finally:
        client.close()


def check_server(ip: str, port: int, task_file_name: str, data_dir: str, total_limit: int,
                 timeout: float = HTTP_TIMEOUT) -> bool:
    """True if our upload server listens on `port` (and now knows the task)."""
    if port <= 0:
        return False
    headers = {HEADER_DATA_DIR: data_dir, HEADER_TOTAL_LIMIT: str(int(total_limit))}
    path = paths.upload_check_path(quote(task_file_name, safe=""))
    try:
        r = _get(ip, port, path, headers=headers, timeout=max(timeout, 0.05))
    except HttpError:
        return False
    return r.status == 200 and r.text.strip() == f"{task_file_name}@{VERSION}"


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
        self.handed_off = False

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

    def __exit__(self, exc_type, *exc):
        if self.handed_off and exc_type is None:
            return   # released by whoever it was handed to
        self.release()

    def release(self) -> None:
        if self.fd < 0:
            return
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = -1


_pending: "dict[int, threading.Thread]" = {}   # port -> the /check of a server still starting


def wait_verified(port: int, timeout: float = 5.0) -> None:
    """Wait (bounded) for the background /check of a server `ensure_server(verify_later=True)` spawned."""
    t = _pending.get(port)
    if t is not None:
        t.join(timeout)
        if not t.is_alive():
            _pending.pop(port, None)


def ensure_server(*, home: str, data_dir: str, meta_path: str, ip: str, port: int,
                  expire_time, alive_time, verbose: bool, task_file_name: str, total_limit: int,
                  dfget_argv0: "str | None" = None, timeout: float = 5.0, on_spawn=None,
                  verify_later: bool = False) -> int:
    """The port of this host's upload server, started if needed; the task is registered with it.

    `expire_time`/`alive_time` are seconds or Go duration strings. `on_spawn(proc)` is called with
    the Popen of a newly spawned server (tests use it to stop the process they caused).
    `verify_later`: a newly spawned server's port is returned as soon as the server prints it
    (its socket listens already); the /check that registers the task runs in a background thread
    (still under the meta-dir lock and the same deadline) — `wait_verified(port)` waits for it.
    """
    deadline = time.monotonic() + timeout
    data_dir, meta_path = os.path.abspath(data_dir), os.path.abspath(meta_path)
    argv = server_argv(home=home, data_dir=data_dir, meta_path=meta_path, ip=ip, port=port,
                       expire_time=expire_time, alive_time=alive_time, verbose=verbose, dfget_argv0=dfget_argv0)
    kw = dict(ip=ip, data_dir=data_dir, meta_path=meta_path, task_file_name=task_file_name,
              total_limit=total_limit, on_spawn=on_spawn, verify_later=verify_later)
    early = _claim_early(argv)
    try:
        if early is not None:
            proc, lock = early   # its lock is held since prespawn(): not entered again
            try:
                started = _adopt(proc, lock, deadline, **kw)
            except BaseException:
                lock.release()
                raise
            if not lock.handed_off:
                lock.release()
            return started
        known = meta.read_port(meta_path)
        if check_server(ip, known, task_file_name, data_dir, total_limit):
            return known
        return _start_locked(deadline, argv, **kw)
    except OSError as e:
        raise UploaderStartError(f"cannot start the upload server: {e}") from e


def _spawn(argv: "list[str]") -> subprocess.Popen:
    log.info("starting the upload server: %s", " ".join(argv))
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
                            env=_child_env(), cwd="/")


_early: "dict | None" = None   # a server prespawn() started that ensure_server() has not claimed yet


def prespawn(*, home: str, data_dir: str, meta_path: str, ip: str, port: int, expire_time, alive_time,
             verbose: bool, dfget_argv0: "str | None" = None) -> bool:
    """Start the upload server early (before dfget has even imported its download path) if
    host.meta names none and no other dfget is starting one; `ensure_server` with the same
    arguments then claims it instead of spawning. Best effort: False if nothing was spawned."""
    global _early
    if _early is not None:
        return False
    data_dir, meta_path = os.path.abspath(data_dir), os.path.abspath(meta_path)
    if meta.read_port(meta_path) > 0:
        return False   # a server may be there: ensure_server checks it the usual way
    argv = server_argv(home=home, data_dir=data_dir, meta_path=meta_path, ip=ip, port=port,
                       expire_time=expire_time, alive_time=alive_time, verbose=verbose, dfget_argv0=dfget_argv0)
    lock = _MetaDirLock(os.path.dirname(meta_path), time.monotonic())   # one try, no waiting
    try:
        lock.__enter__()
    except (UploaderStartError, OSError):
        return False
    try:
        if meta.read_port(meta_path) > 0:
            lock.release()
            return False
        _early = {"argv": argv, "proc": _spawn(argv), "lock": lock}
    except OSError as e:
        lock.release()
        log.warning("cannot start the upload server early: %s", e)
        return False
    return True


def _claim_early(argv: "list[str]"):
    """(proc, lock) of the prespawned server if it was started with `argv`; else None."""
    global _early
    early, _early = _early, None
    if early is None:
        return None
    if early["argv"] != argv:   # started for other settings: leave it to itself
        early["lock"].release()
        early["proc"].stdout.close()
        return None
    return early["proc"], early["lock"]


def _start_locked(deadline: float, argv: "list[str]", *, ip, data_dir, meta_path, task_file_name,
                  total_limit, on_spawn, verify_later: bool = False) -> int:
    """Under the meta-dir lock: re-check host.meta, else spawn `argv` and wait for its port."""
    lock = _MetaDirLock(os.path.dirname(meta_path), deadline)
    with lock:
        known = meta.read_port(meta_path)
        if check_server(ip, known, task_file_name, data_dir, total_limit):
            return known
        return _adopt(_spawn(argv), lock, deadline, ip=ip, data_dir=data_dir, task_file_name=task_file_name,
                      total_limit=total_limit, on_spawn=on_spawn, verify_later=verify_later)


def _adopt(proc: subprocess.Popen, lock: _MetaDirLock, deadline: float, *, ip, data_dir, task_file_name,
           total_limit, on_spawn, verify_later: bool, meta_path: str = "") -> int:
    """Under `lock` (held by the caller's `with`): the spawned server's port, verified now or in
    the background (then the lock goes with the verification)."""
    if on_spawn is not None:
        on_spawn(proc)
    try:
        started = _read_port(proc, deadline)
    finally:
        proc.stdout.close()
    log.info("the upload server (pid %d) listens on port %d", proc.pid, started)
    if not verify_later:
        _verify(started, deadline, ip, data_dir, task_file_name, total_limit)
        return started
    lock.handed_off = True   # the background /check releases the lock when it is done

    def verify() -> None:
        try:
            _verify(started, deadline, ip, data_dir, task_file_name, total_limit)
        except UploaderStartError as e:
            log.warning("%s", e)
        finally:
            lock.release()
    t = threading.Thread(target=verify, name="upload-check", daemon=True)
    _pending[started] = t
    t.start()
    return started


def _verify(port: int, deadline: float, ip, data_dir, task_file_name, total_limit) -> None:
    while not check_server(ip, port, task_file_name, data_dir, total_limit,
                           timeout=min(HTTP_TIMEOUT, deadline - time.monotonic())):
        if time.monotonic() >= deadline:
            raise UploaderStartError(f"the upload server on port {port} does not answer /check")
        time.sleep(0.02)


def client_finish(port: int, task_file_name: str, task_id: str, cid: str, super_node: str, *,
                  ip: str = "", client_key: str = "", timeout: float = HTTP_TIMEOUT) -> bool:
    """Tell the upload server the task's file is complete (GET /client/finish)."""
    wait_verified(port, timeout)
    query = ClientFinishRequest(task_file_name=task_file_name, task_id=task_id, cid=cid,
                                super_node=super_node).query()
    try:
        r = _get(ip, port, paths.UPLOAD_CLIENT_FINISH, params=query, timeout=timeout,
                 headers={HEADER_CLIENT_KEY: client_key} if client_key else None)
    except HttpError as e:
        log.warning("client finish task=%s on port %d failed: %s", task_file_name, port, e)
        return False
    return r.status == 200


def request_rate(port: int, task_file_name: str, rate: int, *, ip: str = "",
                 timeout: float = HTTP_TIMEOUT) -> int:
    """This task's share of the host-wide limit (GET /rate); the asked rate if the server fails."""
    wait_verified(port, timeout)
    path = paths.upload_rate_path(quote(task_file_name, safe=""))
    try:
        r = _get(ip, port, path, headers={HEADER_RATE_LIMIT: str(int(rate))}, timeout=timeout)
        if r.status == 200 and r.text.strip().isdigit():
            return int(r.text.strip())
        log.warning("rate task=%s on port %d: HTTP %d %s", task_file_name, port, r.status, r.text[:100])
    except HttpError as e:
        log.warning("rate task=%s on port %d failed: %s", task_file_name, port, e)
    return int(rate)
