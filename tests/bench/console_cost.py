"""What the console's data endpoint costs as the swarm grows, in process, no sockets.

    python -m tests.bench.console_cost [--peers 2000] [--files 50] [--rounds 20]

Registers --peers clients (distinct IPs) over --files tasks through the real routes with an
in-memory CDN, reports a few pieces per client so that the ledger and edges are filled, then
times GET /api/v1/console/snapshot against GET /api/v1/tasks (the baseline, measured in the same
run) and reports the ratio and the snapshot's size, which the console's caps bound. A
measurement, not a pass/fail test.
"""

import argparse
import json
import random
import statistics
import tempfile
import time

from common.shell.clock import FakeClock
from supernode import settings
from supernode.app import create_app
from tests.support.fake_cdn import FakeCdn

PIECE = 4 * 1024 * 1024


def timed(client, path: str, rounds: int) -> "tuple[float, int]":
    samples, size = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        resp = client.get(path)
        samples.append(time.perf_counter() - started)
        size = len(resp.data)
    return statistics.median(samples), size


def run(peers: int, files: int, rounds: int) -> dict:
    urls = [f"http://origin.test/v2/library/app{i}/blobs/sha256:{i:064x}" for i in range(files)]
    with tempfile.TemporaryDirectory() as home:
        cdn = FakeCdn({u: b"x" * (3 * PIECE) for u in urls})
        app = create_app(
            settings.defaults(home_dir=home), cdn=cdn, clock=FakeClock(), rng=random.Random(1), advertise_ip="127.0.0.1"
        )
        client = app.test_client()
        for n in range(peers):
            ip, cid = f"10.{n // 62500}.{n // 250 % 250}.{n % 250 + 1}", f"c{n}"
            url = urls[n % files]
            body = {
                "rawUrl": url,
                "taskUrl": url,
                "cid": cid,
                "ip": ip,
                "hostName": f"h{n}",
                "port": 15001,
                "path": f"/peer/file/{cid}",
                "headers": [f"X-Dragonfly-Display-Name: library/app{n % files}:v1"],
            }
            reg = client.post("/peer/registry", json=body, environ_base={"REMOTE_ADDR": ip}).get_json()
            cdn.run_pending()
            env, hdr = {"REMOTE_ADDR": ip}, {"X-Dragonfly-Client-Key": reg["data"]["clientKey"]}
            answer = client.get(
                "/peer/task",
                query_string={"srcCid": cid, "taskId": reg["data"]["taskId"], "status": 700, "result": 502},
                environ_base=env,
                headers=hdr,
            ).get_json()
            for piece in (answer.get("data") or [])[:2]:
                client.get(
                    "/peer/piece/suc",
                    query_string={
                        "taskId": reg["data"]["taskId"],
                        "cid": cid,
                        "dstCid": piece["cid"],
                        "pieceRange": piece["range"],
                    },
                    environ_base=env,
                    headers=hdr,
                )
        base, base_size = timed(client, "/api/v1/tasks", rounds)
        snap, snap_size = timed(client, "/api/v1/console/snapshot", rounds)
    return {
        "peers": peers,
        "files": files,
        "tasks_ms": round(base * 1000, 2),
        "snapshot_ms": round(snap * 1000, 2),
        "snapshot_over_tasks": round(snap / base, 1),
        "snapshot_bytes": snap_size,
        "tasks_bytes": base_size,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peers", type=int, default=2000)
    ap.add_argument("--files", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    print(json.dumps(run(args.peers, args.files, args.rounds)))


if __name__ == "__main__":
    main()
