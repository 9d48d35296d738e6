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
        return ["dfget", *args, "--node", self.node, "--home", self.home(home), "--ip", "127.0.0.1",
                "--alivetime", "60s", "--expiretime", "60s"]

    def start(self, *args, home: str = "default") -> subprocess.Popen:
        proc = subprocess.Popen(self.argv(args, home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL)
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

    def upload_pids(self, home: str) -> "list[int]":
        """PIDs of upload servers serving this home (from their pid file)."""
        path = os.path.join(self.home(home), "meta", "uploader.pid")
        try:
            with open(path) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            return []
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return []
        return [pid]

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
        for home in list(self.homes):
            for pid in self.upload_pids(os.path.basename(home)):
                end_pid(pid)


def end_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM a process that is not our child, wait for it to go, SIGKILL after the deadline."""
    deadline = time.monotonic() + timeout
    try:
        os.kill(pid, signal.SIGTERM)
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
