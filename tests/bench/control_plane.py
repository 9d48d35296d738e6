"""Control-plane benchmark: `/peer/task` calls per second and latency with 1,000 simulated peers on
one task of >= 500 pieces, against the real supernode under gunicorn (one gevent worker), and —
in the same run — against other supernodes as baselines (an older tree of ours, v1's Go one).

    python -m tests.bench.control_plane [--quick] [--peers 1000] [--window 20] [--rates 400,2000]
        [--profile] [--targets this,before=/path/to/old/tree,v1go]

Targets, run one after another with the same generator and phases; ratios are against the first:
  this          the supernode of this tree;
  before=PATH   our supernode from another tree (PYTHONPATH=PATH, e.g. a `git archive` of main);
  v1go          the real v1.0.6 Go supernode (tests/support/v1go.py). It binds every interface,
                so the whole run re-executes itself in a private network namespace (`unshare -n`).

The task: an origin serves a SPARSE file (`truncate`, no data blocks) of 500 x 15 MiB, the
supernode runs with `--cdn-pattern source`, so the task is SUCCESS at once and every piece is
available on the "supernode" (clients would range-GET the origin); no piece bytes move at all.
N peers register (distinct cid, port 15000+i, ip 127.0.0.1, v1 JSON keys), then each runs
v1's pull loop on its own keep-alive connection: `/peer/task` carrying the previous piece's report
(status 701, result 503), then `/peer/piece/suc` for that piece (holders grow, the scheduler does
real work), 602 -> v1's back-off (random 50-100 ms doubling up to 800-1600 ms). All simulated
peers connect from 127.0.0.1, so our supernode runs without its per-source connection budget
(real peers come from distinct addresses).

Phases (each bounded in time and count):
  ceiling: GET /_ping closed loop -> what the HTTP stack alone can do on this core;
  saturation: closed loop, at most --concurrency requests in flight -> the maximum rate;
  paced: open loop, /peer/task calls scheduled at each of --rates per second over all peers;
         latency is measured from the scheduled time (no coordinated omission).

The supernode's worker is pinned to CPU 0 and this generator to CPU 1 (sched_setaffinity, what
`taskset` does); other load seen on CPU 0 is reported per phase (`cpu0_other_util`), and so is
the rate per worker-CPU-second, which other load distorts far less than the rate itself.
"""

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from tests.bench import _common as bc
from tests.bench.control_plane_load import Conn, Load, Peer, Stats, ceiling, register_all, run_phase
from tests.support import v1go
from tests.support.procs import Proc, start_origin, start_supernode, supernode_argv, wait_until

PIECE = 15 * 1024 * 1024
_IN_NETNS = "DRAGONFLY_BENCH_NETNS"
# all simulated peers share 127.0.0.1: lift the per-source budget; 10,000 peers need a bigger pool
_OUR_ENV = {"SUPERNODE_MAX_CONNECTIONS_PER_SOURCE": "0", "SUPERNODE_MAX_CONNECTIONS": "40000"}


def start_target(target: str, work: str, flags) -> "tuple[Proc, int, int]":
    """(process, API port, PID of the process that serves the API)."""
    home, log = os.path.join(work, "home"), os.path.join(work, "supernode.log")
    if target == "v1go":
        binaries = v1go.unpack(os.path.join(work, "v1go"))
        from tests.support.procs import free_port

        api, download = free_port(), free_port()
        proc = Proc(
            supernode_argv(
                os.path.join(binaries, "supernode"), home, api, download, "--cdn-pattern", "source", listen=None
            ),
            log_path=log,
        )

        def ready():
            if not proc.alive():
                raise RuntimeError(f"v1 supernode exited: {proc.output()[-2000:]}")
            out = subprocess.run(
                ["curl", "-s", "-m", "1", f"http://127.0.0.1:{api}/_ping"], capture_output=True, text=True, timeout=5
            ).stdout
            return "OK" in out

        wait_until(ready, 30, "the v1 supernode to answer /_ping")
        return proc, api, proc.pid
    env = dict(_OUR_ENV)
    if target.startswith("before="):
        env["PYTHONPATH"] = os.path.abspath(target.split("=", 1)[1])
    elif target != "this":
        raise SystemExit(f"unknown target {target!r}: this, before=PATH or v1go")
    proc, api, _download = start_supernode(home, log, "--cdn-pattern", "source", *flags, env=env)
    workers = bc.children(proc.pid)
    if len(workers) != 1:
        raise RuntimeError(f"expected one gunicorn worker, found {workers}")
    return proc, api, workers[0]


def run_target(target: str, args, url: str, length: int) -> dict:
    work = tempfile.mkdtemp(prefix="bench-cp-sn-")
    proc = None
    result = {"target": target}
    try:
        proc, api, worker = start_target(target, work, args.supernode_flag)
        pinned = bc.pin(worker, 0) and bc.pin(proc.pid, 0) and bc.pin(os.getpid(), 1)
        result.update(pinned=pinned, worker_pid=worker)
        rss0 = bc.rss_bytes(worker)
        task_id, _ = register_all("127.0.0.1", api, url, 1)
        rss1 = bc.rss_bytes(worker)
        t = time.perf_counter()
        task_id2, reg_lat = register_all("127.0.0.1", api, url, args.peers, 16)
        reg_s = time.perf_counter() - t
        assert task_id2 == task_id
        rss2 = bc.rss_bytes(worker)
        result["task"] = {"id": task_id, "file_length": length, "piece_size": PIECE}
        result["registration"] = {
            "peers": args.peers,
            "seconds": round(reg_s, 3),
            "per_s": round(args.peers / reg_s, 1),
            "latency": bc.latency_summary(reg_lat),
        }
        # the first registration of the task re-registered above (same cid 0) -> one more peer record
        result["memory"] = {
            "worker_rss_start": rss0,
            "worker_rss_after_task": rss1,
            "worker_rss_after_peers": rss2,
            "bytes_per_peer_registered": round((rss2 - rss1) / args.peers),
        }
        peers = [Peer(i, Conn("127.0.0.1", api)) for i in range(args.peers)]
        load = Load("127.0.0.1", api, task_id, peers, Stats(), random.Random(7))
        profile_base = None
        if args.profile:
            os.makedirs(bc.RESULTS_DIR, exist_ok=True)
            name = target.split("=")[0]
            profile_base = os.path.join(bc.RESULTS_DIR, f"control_plane-{name}-{time.strftime('%Y%m%d-%H%M%S')}")
        result["ceiling"] = ceiling("127.0.0.1", api, min(args.window, 5.0), args.concurrency, worker)
        print(f"[{target} ceiling] {result['ceiling']}", file=sys.stderr)
        result["saturation"] = run_phase(
            load,
            args.window,
            warmup=args.warmup,
            concurrency=args.concurrency,
            worker_pid=worker,
            profile_base=profile_base,
        )
        _print_phase(f"{target} saturation", result["saturation"])
        result["paced"] = []
        for rate in [float(r) for r in args.rates.split(",") if r.strip()]:
            ph = run_phase(
                load,
                args.window,
                warmup=args.warmup,
                rate=rate,
                worker_pid=worker,
                profile_base=f"{profile_base}-paced{rate:g}" if profile_base else None,
            )
            result["paced"].append(ph)
            _print_phase(f"{target} paced at {rate:g}/s", ph)
        rss3 = bc.rss_bytes(worker)
        result["memory"]["worker_rss_after_load"] = rss3
        result["memory"]["bytes_per_peer_after_load"] = round((rss3 - rss1) / args.peers)
        for p in peers:
            p.conn.close()
    finally:
        if proc is not None:
            proc.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return result


def _in_private_netns(argv) -> None:
    """Re-execute this run inside a new network namespace with only loopback (v1's Go supernode
    binds every interface; inside, nothing outside can reach it)."""
    if os.environ.get(_IN_NETNS) == "1":
        return
    if shutil.which("unshare") is None:
        raise SystemExit("v1go needs `unshare` (util-linux) to run in a private network namespace")
    os.environ[_IN_NETNS] = "1"
    cmd = [sys.executable, "-m", "tests.bench.control_plane", *argv]
    os.execvp("unshare", ["unshare", "-n", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *cmd])


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter windows (8 s)")
    ap.add_argument("--peers", type=int, default=1000)
    ap.add_argument("--pieces", type=int, default=500, help="file length = pieces x 15 MiB (sparse)")
    ap.add_argument("--window", type=float, default=20.0, help="measurement window per phase (s)")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--concurrency", type=int, default=32, help="in-flight bound of the saturation phase")
    ap.add_argument(
        "--rates", default="400,2000", help="comma list of /peer/task calls/s for the paced phases (open loop)"
    )
    ap.add_argument("--targets", default="this", help="comma list: this, before=PATH, v1go (see above)")
    ap.add_argument("--profile", action="store_true", help="py-spy the worker during every measurement window")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directories")
    ap.add_argument("--supernode-flag", action="append", default=[], help="extra flag for our supernode (repeatable)")
    args = ap.parse_args(argv)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if "v1go" in targets:
        _in_private_netns(argv)
    if args.quick:
        args.window, args.warmup = min(args.window, 8.0), min(args.warmup, 2.0)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    work = tempfile.mkdtemp(prefix="bench-cp-")
    origin = None
    result = {"benchmark": "control_plane", "machine": bc.machine(), "args": vars(args), "targets": []}
    try:
        root = os.path.join(work, "origin")
        os.makedirs(root)
        length = args.pieces * PIECE
        with open(os.path.join(root, "big.bin"), "wb") as f:
            f.truncate(length)  # sparse: no data blocks
        origin, oport = start_origin(root, os.path.join(work, "origin.log"))
        url = f"http://127.0.0.1:{oport}/big.bin"
        for target in targets:
            result["targets"].append(run_target(target, args, url, length))
        result["ok"] = True
    finally:
        if origin is not None:
            origin.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    path = bc.write_result("control_plane", result)
    print(json.dumps(result, indent=2, sort_keys=True))
    _summary(result, args, path)
    return 0


def _per_cpu(phase: dict) -> float:
    return round(phase["peer_task_per_s"] / phase["worker_cpu_util"], 1) if phase["worker_cpu_util"] else 0.0


def _summary(result: dict, args, path: str) -> None:
    base = result["targets"][0]
    print(
        f"\n== control plane: {args.peers} peers, one task of {args.pieces} pieces; ratios against {base['target']} =="
    )
    for r in result["targets"]:
        s, m, c = r["saturation"], r["memory"], r["ceiling"]
        ratio = round(s["peer_task_per_s"] / base["saturation"]["peer_task_per_s"], 2)
        cpu_ratio = round(_per_cpu(s) / _per_cpu(base["saturation"]), 2) if _per_cpu(base["saturation"]) else None
        print(f"[{r['target']}] pinned={r['pinned']}")
        print(
            f"  saturation (<= {args.concurrency} in flight): {s['peer_task_per_s']} /peer/task/s + "
            f"{s['piece_suc_per_s']} /peer/piece/suc/s (x{ratio}); {_per_cpu(s)} /peer/task per worker-CPU-s "
            f"(x{cpu_ratio}); p50 {s['peer_task_latency']['p50_ms']} ms, p99 {s['peer_task_latency']['p99_ms']} ms; "
            f"worker CPU {s['worker_cpu_util']}, generator CPU {s['generator_cpu_util']}, "
            f"other load on CPU 0 {s['cpu0_other_util']}, errors {s['errors']}"
        )
        for p in r["paced"]:
            print(
                f"  paced at {p['target_rate']:g}/s: achieved {p['peer_task_per_s']} /peer/task/s + "
                f"{p['piece_suc_per_s']} suc/s; p50 {p['peer_task_latency']['p50_ms']} ms, "
                f"p90 {p['peer_task_latency']['p90_ms']} ms, p99 {p['peer_task_latency']['p99_ms']} ms "
                f"(from the scheduled time); worker CPU {p['worker_cpu_util']}, other load on CPU 0 "
                f"{p['cpu0_other_util']}; answers {p['answers']}, errors {p['errors']}"
            )
        print(
            f"  HTTP ceiling (GET /_ping): {c['per_s']} req/s; pairs reach "
            f"{round(s['requests_per_s'] / c['per_s'], 2)} of it"
        )
        print(
            f"  memory: {m['bytes_per_peer_registered']} B/peer registered, "
            f"{m['bytes_per_peer_after_load']} B/peer after load; registration {r['registration']['per_s']}/s"
        )
    print(f"raw: {path}")


def _print_phase(name, ph):
    print(
        f"[{name}] {ph['peer_task_per_s']} task/s {ph['piece_suc_per_s']} suc/s lat {ph['peer_task_latency']} "
        f"answers {ph['answers']} errors {ph['errors']} cpu w={ph['worker_cpu_util']} "
        f"g={ph['generator_cpu_util']} cpu0 other={ph['cpu0_other_util']}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    sys.exit(main())
