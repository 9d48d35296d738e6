"""The control plane's core without HTTP: v1 pull loops of many peers driven straight into the
Coordinator (seeded, single process), to time the scheduler and bookkeeping per call and to show
the answer mix. Robust to other load on the machine in a way the HTTP benchmark is not.

    python -m tests.bench.scheduler_sim [--quick] [--peers 1000] [--pieces 500] [--steps 20000] [--seed 1]

Every step picks a random peer; if it has a piece to report it pulls with that report (status 701,
result 503) and then sends /peer/piece/suc for it, else it pulls with no report. 601 pieces are
queued as that peer's reports. The supernode serves at most 32 pieces of the task at once, every
piece is on the CDN from the start (like `--cdn-pattern source`).
To compare with another version of supernode/, run it with PYTHONPATH pointing at that tree.
"""

import argparse
import json
import os
import random
import sys
import time
from collections import deque

from common.protocol.codes import CdnStatus
from common.shell.clock import FakeClock
from common.source_access import SourceAccess
from supernode.core.coordinator import Coordinator, Probe, PullQuery, Registrant
from supernode.core.model import Limits
from tests.bench import _common as bc

TASK = "b" * 64
URL = "http://origin.example/big.bin"
PIECE = 15 * 1024 * 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--peers", type=int, default=1000)
    ap.add_argument("--pieces", type=int, default=500)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if args.quick:
        args.steps = min(args.steps, 5000)
    rss0 = bc.rss_bytes(os.getpid())
    core = Coordinator(Limits(supernode_task_upload_limit=32), FakeClock(), random.Random(7))
    core.start("supernode", "127.0.0.1")
    cids = [f"127.0.0.1-sim-{i:05d}" for i in range(args.peers)]
    probe = Probe(status=200, length=args.pieces * PIECE, supports_range=True)
    for i, cid in enumerate(cids):
        reg = Registrant(
            task_id=TASK,
            source=SourceAccess(URL),
            task_url=URL,
            cid=cid,
            ip="127.0.0.1",
            path=f"/peer/file/sim-{i}",
            host_name=f"sim{i}",
            port=15000 + i,
        )
        out = core.register(reg, probe)
        assert out.answer.code == 200, out.answer
    for p in range(args.pieces):
        core.on_piece(TASK, p, f"{p:032x}:{PIECE}", PIECE)
    task = core.state.tasks[TASK]
    task.cdn_status, task.piece_total = CdnStatus.SUCCESS, args.pieces
    rss1 = bc.rss_bytes(os.getpid())
    rng = random.Random(args.seed)
    reports = {cid: deque() for cid in cids}
    started, codes = set(), {}
    n_suc = 0
    pull_s = suc_s = 0.0
    clock = time.process_time  # CPU time: other jobs on a shared machine do not inflate it
    for _ in range(args.steps):
        cid = cids[rng.randrange(args.peers)]
        t = clock()
        if reports[cid]:
            rg, dst = reports[cid].popleft()
            answer = core.pull(
                PullQuery(task_id=TASK, src_cid=cid, dst_cid=dst, range=rg, result=503, status=701)
            ).answer
            t2 = clock()
            core.piece_success(TASK, cid, dst, rg)
            suc_s += clock() - t2
            n_suc += 1
            pull_s += t2 - t
        else:
            answer = core.pull(
                PullQuery(task_id=TASK, src_cid=cid, result=502, status=701 if cid in started else 700)
            ).answer
            pull_s += clock() - t
            started.add(cid)
        key = "601-limited" if answer.code == 601 and not answer.data else str(int(answer.code))
        codes[key] = codes.get(key, 0) + 1
        for piece in answer.data or []:
            reports[cid].append((piece.range, piece.cid))
    holders = core.state.progress.tasks[TASK].holders
    rss2 = bc.rss_bytes(os.getpid())
    held = sum(len(h) for h in holders.values())
    result = {
        "benchmark": "scheduler_sim",
        "machine": bc.machine(),
        "args": vars(args),
        "answers": codes,
        "pull_us_mean": round(pull_s / args.steps * 1e6, 1),
        "suc_us_mean": round(suc_s / max(n_suc, 1) * 1e6, 1),
        "core_pulls_per_cpu_s": round(args.steps / pull_s, 1),
        "mean_holders_per_piece": round(held / max(len(holders), 1), 1),
        # the core's state only (no connections): per registered peer, then per piece held
        "state_bytes_per_peer_registered": round((rss1 - rss0) / args.peers),
        "state_bytes_per_piece_held": round((rss2 - rss1) / max(held, 1)),
    }
    path = bc.write_result("scheduler_sim", result)
    print(json.dumps(result, indent=2, sort_keys=True))
    print(f"\n== scheduler sim: {args.peers} peers, {args.pieces} pieces, {args.steps} pulls ==")
    print(
        f"core time per /peer/task: {result['pull_us_mean']} us (= {result['core_pulls_per_cpu_s']} pulls per "
        f"CPU-second, before HTTP); answers {codes}; state {result['state_bytes_per_peer_registered']} B/peer "
        f"registered + {result['state_bytes_per_piece_held']} B/piece held; raw: {path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
