"""A swarm of dfget on loopback: how much comes from peers, on a quiet machine and with both cores busy.

    python -m tests.bench.loopback_swarm [--clients 6] [--size 24M] [--rate 6M] [--reps 3] [--busy] [--v1]

One origin, one supernode (as shipped), N dfget started at once on 127.0.0.1, each with its own
home (so its own upload server) and `-s RATE` (the v1 default local limit would make the run
about the limit, not the swarm). The P2P share is the supernode's own count of piece bytes
downloaded from peers ÷ all piece bytes; `supernode copies` is the bytes it served ÷ the file.
`--busy` runs two CPU hogs (one per core, `nice 0`, ended with the run) during every swarm, the
condition in which dfget used to give up on slow peers and take pieces from the supernode.
`--v1` runs the real v1.0.6 Go dfget as the clients instead (../shared/v1go, or $DRAGONFLY_V1GO).
Every output is checked against the source's sha256.
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from tests.bench import _common as bc
from tests.bench.dfget_loopback import make_file, parse_size
from tests.support.procs import start_origin, start_supernode

HOG_SECONDS = 600  # a hog ends by itself even if this script is killed


def metric(api: int, name: str) -> float:
    import requests

    text = requests.get(f"http://127.0.0.1:{api}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + " ") or line.startswith(name + "{")
    )


def start_hogs() -> "list[subprocess.Popen]":
    """One busy loop per core, each in its own process group (ended with it, see `stop`)."""
    return [
        subprocess.Popen(
            ["timeout", str(HOG_SECONDS), "sh", "-c", "while :; do :; done"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(os.cpu_count() or 2)
    ]


def stop(procs) -> None:
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the hog's whole group, its shell included
            except ProcessLookupError:
                pass
        p.wait(timeout=10)


def swarm(work: str, args, dfget_bin: str, rep: int) -> dict:
    root = os.path.join(work, f"origin{rep}")
    os.makedirs(root)
    want = make_file(os.path.join(root, "swarm.bin"), args.size, seed=rep + 1)
    origin, port = start_origin(root, os.path.join(work, f"origin{rep}.log"))
    sn, api, _ = start_supernode(os.path.join(work, f"sn{rep}"), os.path.join(work, f"sn{rep}.out"))
    hogs = start_hogs() if args.busy else []
    procs, outs = [], []
    try:
        t0 = time.monotonic()
        for i in range(args.clients):
            out = os.path.join(work, f"out{rep}-{i}.bin")
            outs.append(out)
            home = os.path.join(work, f"home{rep}-{i}")
            procs.append(
                subprocess.Popen(
                    [
                        dfget_bin,
                        "-u",
                        f"http://127.0.0.1:{port}/swarm.bin",
                        "-o",
                        out,
                        "--node",
                        f"127.0.0.1:{api}",
                        "--home",
                        home,
                        "--ip",
                        "127.0.0.1",
                        "-s",
                        args.rate,
                        "--notbs",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    stdin=subprocess.DEVNULL,
                )
            )
        codes = [p.wait(timeout=600) for p in procs]
        elapsed = time.monotonic() - t0
        stop(hogs)
        from_peers = metric(api, "dragonfly_supernode_pieces_downloaded_from_peers_size_bytes_total")
        from_sn = metric(api, "dragonfly_supernode_pieces_downloaded_size_bytes_total")
        ok = all(c == 0 for c in codes) and all(_sha(o) == want for o in outs)
        return {
            "ok": ok,
            "codes": codes,
            "seconds": round(elapsed, 2),
            "p2p_share": round(from_peers / max(from_peers + from_sn, 1), 3),
            "supernode_copies": round(from_sn / args.size, 2),
        }
    finally:
        stop(hogs)
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        _end_upload_servers(work, rep, args.clients)
        sn.stop()
        origin.stop()


def _sha(path: str) -> "str | None":
    if not os.path.isfile(path):
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _end_upload_servers(work: str, rep: int, clients: int) -> None:
    from tests.support.dfget_runs import end_pids

    pids = []
    for i in range(clients):
        try:
            with open(os.path.join(work, f"home{rep}-{i}", "meta", "uploader.pid")) as f:
                pids.append(int(f.read().strip()))
        except (OSError, ValueError):
            pass
    end_pids(pids)


def v1_dfget(work: str) -> str:
    from tests.bench.lab.scenarios import v1_binaries

    return os.path.join(v1_binaries(os.path.join(work, "v1")), "dfget")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--size", type=parse_size, default=parse_size("24M"))
    ap.add_argument("--rate", default="6M", help="each dfget's -s")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--busy", action="store_true", help="keep both cores busy with CPU hogs")
    ap.add_argument("--v1", action="store_true", help="the real v1.0.6 Go dfget as the clients")
    args = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="df-swarm-")
    try:
        dfget_bin = v1_dfget(work) if args.v1 else shutil.which("dfget") or "dfget"
        runs = [swarm(work, args, dfget_bin, rep) for rep in range(args.reps)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    shares = [r["p2p_share"] for r in runs]
    result = {
        "machine": bc.machine(),
        "clients": args.clients,
        "size": args.size,
        "rate": args.rate,
        "busy": args.busy,
        "client": "v1 Go dfget" if args.v1 else "dfget-py",
        "runs": runs,
        "p2p_share_median": statistics.median(shares),
        "p2p_share_min": min(shares),
        "all_ok": all(r["ok"] for r in runs),
    }
    path = bc.write_result("loopback-swarm", result)
    print(json.dumps(result, indent=1))
    print(
        f"P2P share median {result['p2p_share_median']:.0%} (min {min(shares):.0%}), "
        f"{'busy' if args.busy else 'quiet'} cores, {result['client']}  -> {path}"
    )
    return 0 if result["all_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
