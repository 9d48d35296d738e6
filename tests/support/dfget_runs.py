"""Run dfget as a real process with its own --home; end every process it left behind by PID."""

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str


class DfgetRunner:
    def __init__(self, tmp_path, node: str):
        self.tmp_path = tmp_path
        self.node = node
        self.homes = set()
        self.procs = []

    def home(self, name: str) -> str:
        path = os.path.join(str(self.tmp_path), "dfget-homes", name)
        self.homes.add(path)
        return path

    def argv(self, args, home: str):
        return [
            "dfget",
            *args,
            "--node",
            self.node,
            "--home",
            self.home(home),
            "--ip",
            "127.0.0.1",
            "--alivetime",
            "60s",
            "--expiretime",
            "60s",
        ]

    def start(self, *args, home: str = "default") -> subprocess.Popen:
        proc = subprocess.Popen(
            self.argv(args, home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
        )
        self.procs.append(proc)
        return proc

    def wait(self, proc, timeout: float = 120) -> Finished:
        out, err = proc.communicate(timeout=timeout)
        return Finished(proc.returncode, out, err)

    def run(self, *args, home: str = "default", timeout: float = 120) -> Finished:
        return self.wait(self.start(*args, home=home), timeout)

    def upload_port(self, home: str) -> int:
        try:
            with open(os.path.join(self.home(home), "meta", "host.meta")) as f:
                return json.load(f).get("servicePort", 0)
        except (OSError, ValueError):
            return 0

    def pieces_done(self, home: str) -> int:
        """Pieces this home's dfget has written and verified (its log's `downloading piece:` lines):
        a point in a transfer that tests can wait for, whatever the machine's speed."""
        try:
            with open(os.path.join(self.home(home), "logs", "dfclient.log"), errors="replace") as f:
                return f.read().count("downloading piece:")
        except OSError:
            return 0

    def upload_pids(self, home: str) -> "list[int]":
        """PIDs of upload servers this home started (found by their command line, so that a server
        still starting up, before it writes its pid file, is found too)."""
        return upload_server_pids(self.home(home))

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
        pids = [pid for home in list(self.homes) for pid in self.upload_pids(os.path.basename(home))]
        end_pids(pids)


def upload_server_pids(home: str) -> "list[int]":
    """Live upload servers (ours, `python -m dfget.uploader.command`, or any `dfget server`, v1's Go
    one included) started for `home`: their command line names it or a path inside it."""
    inside = home.rstrip("/") + "/"
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        is_server = "dfget.uploader.command" in argv or (len(argv) > 1 and argv[1] == "server")
        names_home = any(a == home or a.startswith(inside) for a in argv[1:])
        if is_server and names_home and _signal(int(name), 0):
            found.append(int(name))
    return found


def end_pids(pids, timeout: float = 10.0) -> None:
    """SIGTERM processes that are not our children, wait for all to go, SIGKILL after the deadline."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _signal(pid, 0)]
        time.sleep(0.05)
    for pid in alive:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig) -> bool:
    """Send `sig`; False when the process is gone (a zombie awaiting its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        os.kill(pid, sig)
        return True
    except (ProcessLookupError, FileNotFoundError):
        return False
