"""Real processes for e2e tests: started with a deadline, always ended by their PID."""

import os
import random
import signal
import socket
import subprocess
import sys
import time

import requests

# How long a server may take to come up. A safety bound, not a timing check: on a machine whose
# cores are busy with other work Python start-up alone can take seconds, and a test must not fail
# because of that — only because the server never comes up.
START_DEADLINE = 90.0
PORT_ATTEMPTS = 3  # a supernode start that lost a port it was given to another process


# Ports handed to servers under test: successive calls walk a range from a random start, so two
# calls never return the same port (two bind(0) calls may, and a supernode once got one port for
# both its flags). The range lies below the kernel's ephemeral ports (32768 and up), which the
# local ends of outgoing connections take, so a port handed out is not taken meanwhile that way.
_TEST_PORTS = range(20000, 32768)
_next_port = random.randrange(len(_TEST_PORTS))


def free_port() -> int:
    """A loopback port nothing listens on or is connected from now (it is not held: bind it soon)."""
    global _next_port
    for _ in range(len(_TEST_PORTS)):
        port = _TEST_PORTS[_next_port % len(_TEST_PORTS)]
        _next_port += 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                s.listen(1)
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_TEST_PORTS}")


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - keep trying until the deadline
            last = e
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last})")


class Proc:
    """A child process in its own session, ended by PID (SIGTERM, then SIGKILL after a deadline)."""

    def __init__(self, argv, *, log_path: str, env=None, cwd=None):
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - the process writes it until stop() closes it
        self.popen = subprocess.Popen(
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.alive():
            # the whole session: gunicorn's worker and dfget's upload server go too
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(self.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.popen.wait(timeout=timeout)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._log.close()

    def output(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


def start_origin(root: str, log_path: str, *extra: str) -> "tuple[Proc, int]":
    proc = Proc(
        [sys.executable, "-m", "tests.support.origin", "--root", root, "--port", "0", *extra],
        log_path=log_path,
        cwd=_repo_root(),
    )

    def port():
        for line in proc.output().splitlines():
            if line.startswith("origin port is "):
                return int(line.split()[-1])
        if not proc.alive():
            raise RuntimeError(proc.output())

    return proc, wait_until(port, START_DEADLINE, "the origin to listen")


def supernode_argv(binary: str, home, api: int, download: int, *extra: str, listen: "str | None" = "127.0.0.1"):
    """A supernode's command line on loopback: ours (`binary` "supernode"), or v1's Go one, which
    has no --listen-address (`listen=None`) and binds every interface."""
    argv = [binary, "--home-dir", str(home), "--port", str(api), "--download-port", str(download)]
    if listen:
        argv += ["--listen-address", listen]
    return [*argv, "--advertise-ip", "127.0.0.1", *extra]


def start_supernode(
    home: str, log_path: str, *extra: str, env=None, ports: "tuple[int, int] | None" = None
) -> "tuple[Proc, int, int]":
    """`env`: settings as SUPERNODE_<NAME> variables; `ports`: (api, download) to reuse (a restart).
    Ports it picks itself are picked again if another process took one before the supernode bound it."""
    attempt = 0
    while True:
        attempt += 1
        api, download = ports or (free_port(), free_port())
        proc = Proc(
            supernode_argv("supernode", home, api, download, *extra),
            log_path=log_path,
            env=env,
        )

        def ready(proc=proc, api=api, download=download):
            if not proc.alive():
                return "exited"
            return (
                requests.get(f"http://127.0.0.1:{api}/_ping", timeout=1).text == "OK"
                and requests.get(f"http://127.0.0.1:{download}/_ping", timeout=1).ok
            )

        if wait_until(ready, START_DEADLINE, "the supernode to answer /_ping") is True:
            return proc, api, download
        lost_a_port = "in use by another process" in proc.output()  # supernode/listeners.py says so
        if ports or not lost_a_port or attempt == PORT_ATTEMPTS:
            raise RuntimeError(f"supernode exited: {proc.output()}")


def kill_tree(pid: int) -> "list[int]":
    """SIGKILL a process and every process it started (a crash of the whole program, including
    children it spawned in their own sessions). The parent is stopped first so that it cannot
    start another child between the scan and the kill. Returns the PIDs killed."""
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        return []
    tree, frontier = [pid], [pid]
    while frontier:
        children = [c for c in _all_pids() if _parent_of(c) in frontier]
        tree += children
        frontier = children
    for p in tree:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return tree


def _all_pids() -> "list[int]":
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _parent_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def _repo_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
