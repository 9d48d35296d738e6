"""Soak: many small downloads through a real supernode with short GC timers (RELIABILITY.md).

    python -m tests.bench.soak [--downloads 400] [--size 65536]

Each download is a fresh small file fetched by a v1-like client (tests/support/v1client.py). The
supernode worker's RSS and open fds are sampled from /proc; at the end the GC must have removed
every expired task, peer and cache file. Not collected by pytest; tests/e2e/test_soak_small.py runs
a short version. Prints one JSON report; exits 1 when a bound is broken.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import requests

from tests.support.procs import start_origin, start_supernode, wait_until
from tests.support.v1client import V1Client

# Bounds, stated once: growth from the sample after warm-up to the end of the run.
RSS_GROWTH_BOUND = 40 * 1024 * 1024
FD_GROWTH_BOUND = 16
WARM_UP = 30
GC_ENV = {
    "SUPERNODE_TASK_EXPIRE_TIME": "2s",
    "SUPERNODE_GC_META_INTERVAL": "1s",
    "SUPERNODE_GC_INITIAL_DELAY": "1s",
    "SUPERNODE_PEER_GC_DELAY": "1s",
    "SUPERNODE_GC_DISK_INTERVAL": "1s",
    # free space is always "low": disk GC evicts every cache file whose task left memory
    "SUPERNODE_YOUNG_GC_THRESHOLD": "1000000T",
    "SUPERNODE_FULL_GC_THRESHOLD": "999999T",
}


def worker_pid(master: int) -> int:
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == master:
                        return int(pid)
            except (OSError, ValueError, IndexError):
                continue
    raise RuntimeError(f"no worker under {master}")


def sample(pid: int) -> "dict[str, int]":
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
    return {"rss": rss, "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def cache_files(home: str) -> int:
    root = os.path.join(home, "repo", "download")
    return sum(len(files) for _, _, files in os.walk(root)) if os.path.isdir(root) else 0


def run_soak(work: str, downloads: int, size: int) -> dict:
    origin_root = os.path.join(work, "origin")
    os.makedirs(origin_root, exist_ok=True)
    home = os.path.join(work, "supernode")
    origin, oport = start_origin(origin_root, os.path.join(work, "origin.log"))
    node, api, _ = start_supernode(home, os.path.join(work, "supernode.out"), env=GC_ENV)
    report = {"downloads": downloads, "size": size, "samples": [], "failures": 0}
    try:
        pid = worker_pid(node.pid)
        api_url = f"http://127.0.0.1:{api}"
        started = time.monotonic()
        for i in range(downloads):
            data = os.urandom(size)
            with open(os.path.join(origin_root, f"f{i}.bin"), "wb") as f:
                f.write(data)
            got, _ = V1Client(api_url, name=f"s{i}").download(f"http://127.0.0.1:{oport}/f{i}.bin")
            if got != data:
                report["failures"] += 1
            if i + 1 == WARM_UP or (i + 1) % 50 == 0 or i + 1 == downloads:
                report["samples"].append({"after": i + 1, **sample(pid)})
        report["seconds"] = round(time.monotonic() - started, 1)

        def collected():
            tasks = requests.get(f"{api_url}/api/v1/tasks", timeout=5).json()
            snap = requests.get(f"{api_url}/api/v1/console/snapshot", timeout=5).json()
            others = [p for p in snap["peers"] if not p["supernode"]]
            return not tasks and not others and cache_files(home) == 0

        try:
            wait_until(collected, 60, "GC to remove every task, peer and cache file", interval=0.5)
            report["gc_complete"] = True
        except TimeoutError:
            report["gc_complete"] = False
        report["after_gc"] = {**sample(pid), "cache_files": cache_files(home)}
        base = next(s for s in report["samples"] if s["after"] >= min(WARM_UP, downloads))
        end = report["after_gc"]
        report["rss_growth"] = end["rss"] - base["rss"]
        report["fd_growth"] = end["fds"] - base["fds"]
        report["ok"] = (
            report["failures"] == 0
            and report["gc_complete"]
            and report["rss_growth"] <= RSS_GROWTH_BOUND
            and report["fd_growth"] <= FD_GROWTH_BOUND
        )
        return report
    finally:
        node.stop()
        origin.stop()


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--downloads", type=int, default=400)
    p.add_argument("--size", type=int, default=64 * 1024)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="df-soak-") as work:
        report = run_soak(work, args.downloads, args.size)
    print(json.dumps(report, indent=1))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
