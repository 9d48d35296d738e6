"""What one registration costs as the crowd grows (issue 11 item 10), in process, no sockets.

    python -m tests.bench.gauge_cost [--peers 17000] [--window 500]

Registers --peers clients (distinct cid and IP, 16 call systems, 8 files) through the supernode
service with an in-memory CDN and reports the mean time of one registration per window of
--window registrations, and the time of one /metrics scrape at the end. Before the fix every
registration recounted every peer for the gauges, so the per-registration time grew with the
number of peers; a measurement, not a pass/fail test.
"""

import argparse
import json
import random
import statistics
import tempfile
import time

from common.protocol.messages import RegisterRequest
from common.shell.clock import FakeClock
from supernode import settings
from supernode.app import create_app
from tests.support.fake_cdn import FakeCdn

FILES = [f"http://origin.test/file{i}.bin" for i in range(8)]


def run(peers: int, window: int) -> dict:
    with tempfile.TemporaryDirectory() as home:
        app = create_app(
            settings.defaults(home_dir=home),
            cdn=FakeCdn({u: b"x" * 4096 for u in FILES}),
            clock=FakeClock(),
            rng=random.Random(1),
            advertise_ip="127.0.0.1",
        )
        service = app.extensions["dragonfly"].service
        windows, started = [], time.perf_counter()
        for i in range(peers):
            url = FILES[i % len(FILES)]
            req = RegisterRequest(
                raw_url=url,
                task_url=url,
                cid=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}-{i}",
                ip=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
                host_name=f"h{i}",
                port=15000,
                path=f"/peer/file/f{i}",
                version="1.0.6",
                call_system=f"cs{i % 16}",
            )
            answer = service.register(req, "127.0.0.1")
            assert answer.code == 200, answer
            if (i + 1) % window == 0:
                now = time.perf_counter()
                windows.append({"peers": i + 1, "ms_per_registration": (now - started) * 1000 / window})
                started = now
        client = app.test_client()
        client.get("/metrics")  # the first request of an app pays its warm-up
        t0 = time.perf_counter()
        scrape = client.get("/metrics")
        scrape_ms = (time.perf_counter() - t0) * 1000
    return {
        "peers": peers,
        "windows": windows,
        "scrape_ms": round(scrape_ms, 1),
        "scrape_bytes": len(scrape.data),
        "first_window_ms": round(windows[0]["ms_per_registration"], 3),
        "last_window_ms": round(windows[-1]["ms_per_registration"], 3),
        "median_ms": round(statistics.median(w["ms_per_registration"] for w in windows), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", type=int, default=17000)
    parser.add_argument("--window", type=int, default=500)
    args = parser.parse_args()
    result = run(args.peers, args.window)
    summary = {k: v for k, v in result.items() if k != "windows"}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
