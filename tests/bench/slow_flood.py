"""A legitimate client's latency while a slowloris floods the supernode's API port (issue 11 item 3).

    python -m tests.bench.slow_flood [--connections 10000] [--sources 1] [--seconds 20]

A real supernode (default settings unless SUPERNODE_* variables say otherwise) on free loopback
ports; --connections trickling connections spread over --sources addresses 127.0.0.2...; during
the flood a client on 127.0.0.1 registers and downloads a 4 MiB file in a loop (bounded by
--seconds and 200 rounds). Prints register and download latencies (median, p99, max) and the
worker's RSS before and during the flood. A measurement, not a pass/fail test.
"""

import argparse
import json
import os
import resource
import shutil
import tempfile
import time

import requests

from tests.bench import _common as bc
from tests.support.procs import start_origin, start_supernode, wait_until
from tests.support.slow_flood import SlowFlood
from tests.support.v1client import V1Client


def worker_rss_mib(master_pid: int) -> float:
    (worker,) = bc.children(master_pid)[:1]
    with open(f"/proc/{worker}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def quantiles(values: "list[float]") -> dict:
    values = sorted(values)
    return {
        "median_ms": round(values[len(values) // 2] * 1000, 1),
        "p99_ms": round(values[min(len(values) - 1, int(len(values) * 0.99))] * 1000, 1),
        "max_ms": round(values[-1] * 1000, 1),
        "n": len(values),
    }


def run(connections: int, sources: int, seconds: float) -> dict:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, connections + 1024), hard))
    tmp = tempfile.mkdtemp(prefix="slow-flood-")
    os.makedirs(f"{tmp}/origin")
    with open(f"{tmp}/origin/f.bin", "wb") as f:
        f.write(os.urandom(4 * 1024 * 1024))
    origin, oport = start_origin(f"{tmp}/origin", f"{tmp}/origin.log")
    supernode, api, _ = start_supernode(f"{tmp}/sn", f"{tmp}/sn.log")
    url = f"http://127.0.0.1:{oport}/f.bin"
    try:
        V1Client(f"http://127.0.0.1:{api}", name="warm").download(url)
        rss_before = worker_rss_mib(supernode.pid)
        addresses = [f"127.0.0.{2 + i}" for i in range(sources)]
        registers, downloads, failures = [], [], 0
        with SlowFlood(
            api, addresses, per_source=connections // sources, interval=1.0, rounds=int(seconds) + 30
        ) as flood:
            wait_until(lambda: flood.rounds_done >= 1, 60, "the flood to be established")
            deadline = time.monotonic() + seconds
            for i in range(200):
                if time.monotonic() > deadline:
                    break
                client = V1Client(f"http://127.0.0.1:{api}", name=f"legit{i}")
                t0 = time.monotonic()
                try:
                    assert client.register(url)["code"] == 200
                    registers.append(time.monotonic() - t0)
                    client.download(url, timeout=60)
                    downloads.append(time.monotonic() - t0)
                except (requests.RequestException, AssertionError, TimeoutError):
                    failures += 1
                time.sleep(0.1)
            rss_during = worker_rss_mib(supernode.pid)
            opened = flood.opened
        metrics = requests.get(f"http://127.0.0.1:{api}/metrics", timeout=10).text
        refused = {
            line.split('"')[1]: float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("dragonfly_supernode_connections_refused_total{")
        }
    finally:
        supernode.stop()
        origin.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "connections": connections,
        "sources": sources,
        "flood_opened": opened,
        "refused": refused,
        "register": quantiles(registers) if registers else None,
        "register_and_download_4MiB": quantiles(downloads) if downloads else None,
        "failures": failures,
        "worker_rss_mib": {"before": round(rss_before, 1), "during": round(rss_during, 1)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--sources", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    print(json.dumps(run(args.connections, args.sources, args.seconds), indent=2))


if __name__ == "__main__":
    main()
