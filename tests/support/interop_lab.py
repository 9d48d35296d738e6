"""The v1 interop matrix's lab (tests/e2e/test_v1_interop.py): one private network namespace with
an origin and our supernode in it, the v1 Go binaries beside, and helpers that read what a dfget
(Go or ours: they log the same lines) fetched from whom."""

import hashlib
import json
import os
import re
import subprocess

import requests

from tests.support.netns import Netns
from tests.support.procs import Proc, free_port, start_origin, start_supernode

RUN_DEADLINE = 120


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pieces_from(log_text: str) -> "list[str]":
    """dstCid of every piece a dfget (Go or ours: the same log line) fetched and kept."""
    return [
        p["dstCid"]
        for p in (json.loads(m) for m in re.findall(r"downloading piece:(\{.*\})", log_text))
        if p.get("result") == 503 and p.get("dstCid")
    ]


def own_cid(log_text: str) -> str:
    """The client's own cid, from the Go dfget's runtime line or ours."""
    m = re.search(r'"Cid":"([^"]+)"', log_text) or re.search(r"\bcid=(\S+)", log_text)
    return m.group(1) if m else ""


class Lab:
    """The module's namespace, binaries, origin and our supernode; each method runs inside."""

    def __init__(self, tmp, bins: str, ns: Netns):
        self.tmp, self.bins, self.ns = str(tmp), bins, ns
        self.procs: list[Proc] = []
        self.origin_dir = os.path.join(self.tmp, "origin")
        os.makedirs(self.origin_dir)
        proc, port = ns.run(start_origin, self.origin_dir, os.path.join(self.tmp, "origin.log"))
        self.procs.append(proc)
        self.origin = f"http://127.0.0.1:{port}"
        proc, api, _ = ns.run(start_supernode, os.path.join(self.tmp, "ours"), os.path.join(self.tmp, "ours.out"))
        self.procs.append(proc)
        self.api = api
        self.node = f"127.0.0.1:{api}"

    def file(self, name: str, size: int) -> "tuple[str, bytes]":
        content = os.urandom(size)
        with open(os.path.join(self.origin_dir, name), "wb") as f:
            f.write(content)
        return f"{self.origin}/{name}", content

    def get(self, url: str, **kw) -> requests.Response:
        return self.ns.run(requests.get, url, timeout=30, **kw)

    def metric(self, name: str) -> float:
        text = self.get(f"http://{self.node}/metrics").text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name + " ") or line.startswith(name + "{")
        )

    def go_dfget(self, name: str, url: str, node: str, *extra: str) -> "tuple[subprocess.Popen, str, str]":
        """Start the Go dfget with its own home and upload port: (process, output path, home)."""
        home, out = os.path.join(self.tmp, "go-" + name), os.path.join(self.tmp, "go-" + name + ".out")
        argv = [
            os.path.join(self.bins, "dfget"),
            "-u",
            url,
            "-o",
            out,
            "--node",
            node,
            "--home",
            home,
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.ns.run(free_port)),
            "--alivetime",
            "60s",
            *extra,
        ]
        return (
            self.ns.run(
                subprocess.Popen,
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                stdin=subprocess.DEVNULL,
            ),
            out,
            home,
        )

    def start(self, argv, name: str) -> Proc:
        proc = self.ns.run(Proc, argv, log_path=os.path.join(self.tmp, name + ".log"))
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.ns.close()


def finish(proc: subprocess.Popen) -> "tuple[int, str]":
    out, _ = proc.communicate(timeout=RUN_DEADLINE)
    return proc.returncode, out
