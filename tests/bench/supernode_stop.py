"""How fast and how cleanly a supernode stops (issue 12 item 2), ours against v1's Go one.

For each program and each stop signal: start it, keep opening new connections to its API port
(`GET /_ping`, one fresh connection every few ms), send the signal, and record

* `gone_ms`: until the process has exited (its parent reaped it);
* `port_free_ms`: until the API port (and ours: the download port) can be bound again;
* `answered_after_ms`: the last moment a *new* connection was still answered after the signal
  (0 = nothing new was accepted once the signal arrived);

The Go supernode binds every interface (no listen-address flag), so the whole run happens inside
a private network namespace (`unshare -n`, needs root; without it the Go rows are skipped).
Figures are reported as ratios against the Go supernode measured in the same run.

    python -m tests.bench.supernode_stop [--rounds 5]
"""

import argparse
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from tests.bench._common import machine, write_result
from tests.support import v1go
from tests.support.procs import free_port, supernode_argv, wait_until

INSIDE = "DF_STOP_BENCH_IN_NETNS"
DEADLINE = 60.0


def can_bind(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as both servers bind
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            s.settimeout(0.5)
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


class Prober(threading.Thread):
    """New connections, one after another, until told to stop; remembers the last answered one."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port, self.last_ok, self.stopped = port, 0.0, threading.Event()

    def run(self):
        while not self.stopped.is_set():
            if ping(self.port):
                self.last_ok = time.monotonic()
            time.sleep(0.002)


def start(kind: str, home: str, binary: str):
    api, download = free_port(), free_port()
    if kind == "ours":
        argv = supernode_argv("supernode", home, api, download)
    else:
        argv = supernode_argv(binary, home, api, download, listen=None)
    with open(os.path.join(home + ".out"), "ab") as log:
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    wait_until(lambda: ping(api) or proc.poll() is not None, DEADLINE, f"{kind} supernode to answer")
    if proc.poll() is not None:
        raise RuntimeError(f"{kind} supernode exited: {pathlib.Path(home + '.out').read_text()[-2000:]}")
    ports = [api, download] if kind == "ours" else [api]
    return proc, api, download, ports


def stop_once(kind: str, sig: int, binary: str, workdir: str) -> dict:
    home = tempfile.mkdtemp(prefix=f"{kind}-", dir=workdir)
    proc, api, download, ports = start(kind, home, binary)
    prober = Prober(api)
    prober.start()
    wait_until(lambda: prober.last_ok > 0, DEADLINE, "the prober's first answer")  # it is probing
    t0 = time.monotonic()
    os.kill(proc.pid, sig)
    try:
        proc.wait(timeout=DEADLINE)
        gone = time.monotonic() - t0
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        gone = float("nan")
    free_at = None
    deadline = time.monotonic() + 10
    while free_at is None and time.monotonic() < deadline:
        if all(can_bind(p) for p in ports):
            free_at = time.monotonic() - t0
        else:
            time.sleep(0.001)
    prober.stopped.set()
    prober.join(5)
    answered = max(0.0, prober.last_ok - t0)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # anything the program left in its session
    except ProcessLookupError:
        pass
    shutil.rmtree(home, ignore_errors=True)
    return {
        "gone_ms": round(gone * 1e3, 1),
        "port_free_ms": round((free_at or float("nan")) * 1e3, 1),
        "answered_after_ms": round(answered * 1e3, 1),
    }


def median(values):
    v = sorted(x for x in values if x == x)
    return v[len(v) // 2] if v else float("nan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    if os.environ.get(INSIDE) != "1" and os.geteuid() == 0 and shutil.which("unshare"):
        # a private network namespace: the Go supernode binds every interface
        env = {**os.environ, INSIDE: "1"}
        return subprocess.call(
            [
                "unshare",
                "-n",
                "sh",
                "-c",
                'ip link set lo up && exec "$@"',
                "sh",
                sys.executable,
                "-m",
                "tests.bench.supernode_stop",
                *(argv or sys.argv[1:]),
            ],
            env=env,
        )
    workdir = tempfile.mkdtemp(prefix="stop-bench-")
    kinds = ["ours"]
    binary = ""
    if os.environ.get(INSIDE) == "1":
        try:
            binary = os.path.join(v1go.unpack(os.path.join(workdir, "v1go")), "supernode")
            kinds.append("go")
        except v1go.V1GoUnavailable as e:
            print(f"go supernode skipped: {e}")
    rows = {}
    for kind in kinds:
        for sig in (signal.SIGINT, signal.SIGTERM):
            runs = [stop_once(kind, sig, binary, workdir) for _ in range(args.rounds)]
            row = {k: median([r[k] for r in runs]) for k in runs[0]}
            row["runs"] = runs
            rows[f"{kind} {signal.Signals(sig).name}"] = row
            print(
                f"{kind:5} {signal.Signals(sig).name:8} gone {row['gone_ms']:8.1f} ms  port free "
                f"{row['port_free_ms']:8.1f} ms  new requests answered until {row['answered_after_ms']:7.1f} ms "
                f"after the signal (median of {args.rounds})",
                flush=True,
            )
    if "go SIGINT" in rows:
        for name in ("SIGINT", "SIGTERM"):
            ours, go = rows[f"ours {name}"], rows[f"go {name}"]
            ratio = ours["gone_ms"] / go["gone_ms"] if go["gone_ms"] else float("inf")
            print(f"{name}: ours takes {ratio:.1f} x the Go supernode's time to exit")
    shutil.rmtree(workdir, ignore_errors=True)
    path = write_result("supernode_stop", {"machine": machine(), "rounds": args.rounds, "rows": rows})
    print("result:", path)
    print(json.dumps({k: {m: v for m, v in r.items() if m != "runs"} for k, r in rows.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
