"""dfget on loopback against curl from the same origin, as ratios measured in one run.

    python -m tests.bench.dfget_loopback [--quick] [--size 1G] [--reps 2] [--small-reps 5] [--profile] [--v1]

One origin (tests/support/origin.py: Range/HEAD, counts bytes), one supernode (gunicorn, one gevent
worker, default `--cdn-pattern local`), one client on 127.0.0.1, unshaped. For each repetition:
  curl          `curl -s -o OUT URL`                                   (the baseline)
  dfget cold    a URL the supernode has never seen (a fresh `?bench=` query -> a new task, so the
                CDN fetches the source while dfget pulls pieces)
  dfget warm    the same URL again with a fresh dfget home (the CDN file is complete; the cold
                client's upload server has been ended, so every piece comes from the supernode)
  curl          again
Throughput ratio = dfget throughput / mean curl throughput of the same repetition. Every output is
checked against the source's sha256 (outside the timed section). dfget runs with `-s 100G` (no
local rate limit; v1's default would cap it at 20 MB/s).

The one-piece file (1,000,000 bytes; pieces are >= 1 MiB including 5 bytes of framing) is timed
the same way; reported as dfget wall time minus curl wall time (medians). It is also fetched a third
time ("reuse": a new URL, so a new task) with the warm run's home while that run's upload server is
still up: the case of a host whose upload server is already running, where dfget starts no second
process.

--v1 also runs the real v1.0.6 Go dfget (tests/support/v1go.py) against the same supernode in the
same repetitions: cold on its own fresh URL, then warm, with the same flags.

--profile adds one extra warm run (not timed) under `py-spy record` for the dfget process (and its
upload server) and the supernode worker, and prints their top frames.
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from tests.bench import _common as bc
from tests.support.procs import start_origin, start_supernode

SMALL = 1_000_000
TREE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # whose dfget runs


def parse_size(text: str) -> int:
    t = text.strip().upper().rstrip("B").rstrip("I")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:], 1)
    return int(float(t[:-1] if t[-1:] in "KMG" else t) * mult)


def make_file(path: str, size: int, seed: int = 1) -> str:
    """Deterministic, incompressible content; returns its sha256."""
    block = random.Random(seed).randbytes(4 << 20)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        written, i = 0, 0
        while written < size:
            chunk = (i.to_bytes(8, "big") + block[8:])[: size - written]
            f.write(chunk)
            h.update(chunk)
            written += len(chunk)
            i += 1
    return h.hexdigest()


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def end_uploaders(home: str, timeout: float = 10.0) -> "list[int]":
    """End the upload server(s) a dfget run with `--home home` left behind, by PID."""
    from tests.support.dfget_runs import end_pids, upload_server_pids

    pids = upload_server_pids(home)
    end_pids(pids, timeout)
    return pids


class Runner:
    def __init__(self, work: str, api: int, worker_pid: int):
        self.work, self.api, self.worker = work, api, worker_pid
        self.n = 0

    def curl(self, url: str, size: int, expect: str) -> dict:
        out = os.path.join(self.work, "out-curl")
        t = time.perf_counter()
        r = subprocess.run(["curl", "-s", "-f", "-o", out, "-m", "600", url], timeout=660)
        wall = time.perf_counter() - t
        return self._check("curl", r.returncode, wall, out, size, expect)

    def dfget(
        self,
        url: str,
        size: int,
        expect: str,
        *,
        profile_base: "str | None" = None,
        rate_flags: "tuple[str, ...]" = ("-s", "100G"),
        binary: str = "dfget",
        home: "str | None" = None,
        keep_server: bool = False,
    ) -> dict:
        """One timed dfget run with a fresh home (or `home`); its upload server is ended
        afterwards, unless `keep_server` (the caller then ends it: `end_uploaders(res["home"])`)."""
        self.n += 1
        home = home or os.path.join(self.work, f"dfhome-{self.n}")
        out = os.path.join(self.work, "out-dfget")
        argv = [
            binary,
            "-u",
            url,
            "-o",
            out,
            "--node",
            f"127.0.0.1:{self.api}",
            "--home",
            home,
            "--ip",
            "127.0.0.1",
            *rate_flags,
            "--timeout",
            "600s",
        ]
        sn_cpu0 = bc.cpu_seconds(self.worker)
        spies = []
        t = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if profile_base:
            spies = [
                _spy(proc.pid, profile_base + "-dfget.txt", subprocesses=True),
                _spy(self.worker, profile_base + "-supernode.txt"),
            ]
        try:
            stdout, _ = proc.communicate(timeout=660)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, _ = proc.communicate(timeout=10)
        wall = time.perf_counter() - t
        sn_cpu = bc.cpu_seconds(self.worker) - sn_cpu0
        for spy in spies:
            if spy is not None and spy.poll() is None:
                spy.send_signal(signal.SIGINT)
        for spy in spies:
            bc.wait_proc(spy, 30)
        ended = [] if keep_server else end_uploaders(home)
        res = self._check("dfget", proc.returncode, wall, out, size, expect)
        res["supernode_worker_cpu_s"] = round(sn_cpu, 3)
        res["stdout_tail"] = stdout.decode(errors="replace")[-300:]
        res["uploaders_ended"] = len(ended)
        if keep_server:
            res["home"] = home
        else:
            shutil.rmtree(home, ignore_errors=True)
        return res

    def _check(self, what, rc, wall, out, size, expect) -> dict:
        ok = rc == 0 and os.path.exists(out) and os.path.getsize(out) == size and sha256_of(out) == expect
        if os.path.exists(out):
            os.remove(out)
        return {
            "tool": what,
            "rc": rc,
            "ok": ok,
            "wall_s": round(wall, 4),
            "mb_per_s": round(size / wall / 1e6, 1) if wall > 0 else None,
        }


def _spy(pid: int, path: str, subprocesses: bool = False):
    exe = shutil.which("py-spy")
    if exe is None:
        return None
    argv = [
        exe,
        "record",
        "-p",
        str(pid),
        "-r",
        "200",
        "--nonblocking",
        "--function",
        "-d",
        "600",
        "-f",
        "raw",
        "-o",
        path,
    ]
    if subprocesses:
        argv.append("--subprocesses")
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default=None, help="file size (default 1G; --quick 256M)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--small-reps", type=int, default=5)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--v1", action="store_true", help="also run v1's Go dfget (cold and warm) in each repetition")
    args = ap.parse_args(argv)
    size = parse_size(args.size or ("256M" if args.quick else "1G"))
    if args.quick:
        args.reps, args.small_reps = min(args.reps, 1), min(args.small_reps, 3)

    work = tempfile.mkdtemp(prefix="bench-dfget-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None)
    result = {"benchmark": "dfget_loopback", "machine": bc.machine(), "args": vars(args), "size": size}
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and not os.path.isdir(os.path.join(TREE, "dfget", "__pycache__")):
        # every dfget and upload server then compiles its modules from source: start-up is not
        # what an installed dfget (pip writes the .pyc files) pays
        result["warning"] = "PYTHONDONTWRITEBYTECODE is set and dfget has no __pycache__: start-ups include compiling"
        print(f"warning: {result['warning']}", file=sys.stderr)
    origin = supernode = None
    try:
        root = os.path.join(work, "origin")
        os.makedirs(root)
        big_sha = make_file(os.path.join(root, "big.bin"), size)
        small_sha = make_file(os.path.join(root, "small.bin"), SMALL, seed=2)
        origin, oport = start_origin(root, os.path.join(work, "origin.log"))
        supernode, api, _dl = start_supernode(os.path.join(work, "sn"), os.path.join(work, "sn.log"))
        workers = bc.children(supernode.pid)
        worker = workers[0]
        run = Runner(work, api, worker)
        base = f"http://127.0.0.1:{oport}"
        v1_dfget = None
        if args.v1:
            from tests.support import v1go

            v1_dfget = os.path.join(v1go.unpack(os.path.join(work, "v1go")), "dfget")

        big = []
        for rep in range(args.reps):
            url = f"{base}/big.bin?bench={os.getpid()}-{rep}"
            row = {"curl_1": run.curl(url, size, big_sha)}
            row["cold"] = run.dfget(url, size, big_sha)
            row["warm"] = run.dfget(url, size, big_sha)
            row["curl_2"] = run.curl(url, size, big_sha)
            curl_mbs = statistics.mean([row["curl_1"]["mb_per_s"], row["curl_2"]["mb_per_s"]])
            row["cold_ratio"] = round(row["cold"]["mb_per_s"] / curl_mbs, 3)
            row["warm_ratio"] = round(row["warm"]["mb_per_s"] / curl_mbs, 3)
            if v1_dfget:
                row["v1_cold"] = run.dfget(url + "-v1", size, big_sha, binary=v1_dfget)
                row["v1_warm"] = run.dfget(url + "-v1", size, big_sha, binary=v1_dfget)
                for kind in ("cold", "warm"):
                    row[f"v1_{kind}_ratio"] = round(row[f"v1_{kind}"]["mb_per_s"] / curl_mbs, 3)
                print(
                    f"[{size >> 20} MiB rep {rep}] v1 Go dfget cold {row['v1_cold']['mb_per_s']} MB/s "
                    f"({row['v1_cold_ratio']}), warm {row['v1_warm']['mb_per_s']} MB/s ({row['v1_warm_ratio']}) "
                    f"ok={[row[k]['ok'] for k in ('v1_cold', 'v1_warm')]}",
                    file=sys.stderr,
                )
            big.append(row)
            print(
                f"[{size >> 20} MiB rep {rep}] curl {row['curl_1']['mb_per_s']}/{row['curl_2']['mb_per_s']} MB/s, "
                f"cold {row['cold']['mb_per_s']} MB/s ({row['cold_ratio']}), warm {row['warm']['mb_per_s']} MB/s "
                f"({row['warm_ratio']}) ok={[row[k]['ok'] for k in ('curl_1', 'cold', 'warm', 'curl_2')]}",
                file=sys.stderr,
            )
        result["big"] = big

        small = []
        for rep in range(args.small_reps):
            url = f"{base}/small.bin?bench={os.getpid()}-{rep}"
            row = {"curl": run.curl(url, SMALL, small_sha)}
            row["cold"] = run.dfget(url, SMALL, small_sha)
            row["warm"] = run.dfget(url, SMALL, small_sha, keep_server=True)
            try:  # a new task, the warm run's home, its upload server still up
                row["reuse"] = run.dfget(url + "-reuse", SMALL, small_sha, home=row["warm"]["home"])
            finally:
                end_uploaders(row["warm"]["home"])
                shutil.rmtree(row["warm"]["home"], ignore_errors=True)
            row["reuse_minus_curl_s"] = round(row["reuse"]["wall_s"] - row["curl"]["wall_s"], 4)
            if v1_dfget:
                row["v1_cold"] = run.dfget(url + "-v1", SMALL, small_sha, binary=v1_dfget)
                row["v1_warm"] = run.dfget(url + "-v1", SMALL, small_sha, binary=v1_dfget)
            row["cold_minus_curl_s"] = round(row["cold"]["wall_s"] - row["curl"]["wall_s"], 4)
            row["warm_minus_curl_s"] = round(row["warm"]["wall_s"] - row["curl"]["wall_s"], 4)
            small.append(row)
            print(
                f"[one piece rep {rep}] curl {row['curl']['wall_s']} s, cold {row['cold']['wall_s']} s, "
                f"warm {row['warm']['wall_s']} s, reuse {row['reuse']['wall_s']} s"
                + (f"; v1 Go cold {row['v1_cold']['wall_s']} s, warm {row['v1_warm']['wall_s']} s" if v1_dfget else ""),
                file=sys.stderr,
            )
        result["small"] = small

        if args.profile:
            # not timed: one cold run (a new task) and one warm run of it, each under py-spy
            url = f"{base}/big.bin?bench={os.getpid()}-profile"
            os.makedirs(bc.RESULTS_DIR, exist_ok=True)
            result["profile"] = {}
            for kind in ("cold", "warm"):
                pbase = os.path.join(bc.RESULTS_DIR, f"dfget_loopback-{kind}-{time.strftime('%Y%m%d-%H%M%S')}")
                prof = run.dfget(url, size, big_sha, profile_base=pbase)
                result["profile"][kind] = {
                    "run": prof,
                    "dfget": bc.top_frames(pbase + "-dfget.txt", 30),
                    "supernode": bc.top_frames(pbase + "-supernode.txt", 30),
                    "files": [pbase + "-dfget.txt", pbase + "-supernode.txt"],
                }

        def med(key, sub):
            return statistics.median(r[key][sub] for r in big)

        result["summary"] = {
            "size_bytes": size,
            "curl_mb_per_s": statistics.median(
                [r["curl_1"]["mb_per_s"] for r in big] + [r["curl_2"]["mb_per_s"] for r in big]
            ),
            "cold_mb_per_s": med("cold", "mb_per_s"),
            "warm_mb_per_s": med("warm", "mb_per_s"),
            "cold_ratio": statistics.median(r["cold_ratio"] for r in big),
            "warm_ratio": statistics.median(r["warm_ratio"] for r in big),
            "small_curl_s": statistics.median(r["curl"]["wall_s"] for r in small),
            "small_cold_s": statistics.median(r["cold"]["wall_s"] for r in small),
            "small_warm_s": statistics.median(r["warm"]["wall_s"] for r in small),
            "small_cold_minus_curl_s": statistics.median(r["cold_minus_curl_s"] for r in small),
            "small_warm_minus_curl_s": statistics.median(r["warm_minus_curl_s"] for r in small),
            "small_reuse_s": statistics.median(r["reuse"]["wall_s"] for r in small),
            "small_reuse_minus_curl_s": statistics.median(r["reuse_minus_curl_s"] for r in small),
            "all_ok": all(r[k]["ok"] for r in big for k in ("curl_1", "cold", "warm", "curl_2"))
            and all(r[k]["ok"] for r in small for k in ("curl", "cold", "warm", "reuse")),
        }
        if v1_dfget:
            result["summary"].update(
                {
                    "v1_cold_mb_per_s": med("v1_cold", "mb_per_s"),
                    "v1_warm_mb_per_s": med("v1_warm", "mb_per_s"),
                    "v1_cold_ratio": statistics.median(r["v1_cold_ratio"] for r in big),
                    "v1_warm_ratio": statistics.median(r["v1_warm_ratio"] for r in big),
                    "small_v1_cold_s": statistics.median(r["v1_cold"]["wall_s"] for r in small),
                    "small_v1_warm_s": statistics.median(r["v1_warm"]["wall_s"] for r in small),
                    "v1_all_ok": all(r[k]["ok"] for r in big + small for k in ("v1_cold", "v1_warm")),
                }
            )
        result["origin_stats"] = json.loads(
            subprocess.run(
                ["curl", "-s", "-m", "10", f"{base}/_stats"], capture_output=True, text=True, timeout=20
            ).stdout
            or "{}"
        )
    finally:
        if supernode is not None:
            supernode.stop()
        if origin is not None:
            origin.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    path = bc.write_result("dfget_loopback", result)
    print(json.dumps(result, indent=2, sort_keys=True))
    s = result["summary"]
    print(
        f"\n== dfget loopback, {size >> 20} MiB, {args.reps} rep(s); "
        f"one-piece file {SMALL} B, {args.small_reps} rep(s) =="
    )
    print(
        f"curl {s['curl_mb_per_s']} MB/s | dfget cold {s['cold_mb_per_s']} MB/s = {s['cold_ratio']} x curl "
        f"(target >= 0.5) | warm {s['warm_mb_per_s']} MB/s = {s['warm_ratio']} x curl (target >= 0.7)"
    )
    print(
        f"one piece: curl {s['small_curl_s']} s, dfget cold {s['small_cold_s']} s (+{s['small_cold_minus_curl_s']} s), "
        f"warm {s['small_warm_s']} s (+{s['small_warm_minus_curl_s']} s) (target <= 0.3 s), "
        f"upload server running {s['small_reuse_s']} s (+{s['small_reuse_minus_curl_s']} s) (target <= 0.15 s)"
    )
    if "v1_cold_mb_per_s" in s:
        print(
            f"v1 Go dfget: cold {s['v1_cold_mb_per_s']} MB/s = {s['v1_cold_ratio']} x curl, warm "
            f"{s['v1_warm_mb_per_s']} MB/s = {s['v1_warm_ratio']} x curl; one piece cold {s['small_v1_cold_s']} s, "
            f"warm {s['small_v1_warm_s']} s; all verified: {s['v1_all_ok']}"
        )
    print(f"all outputs verified: {s['all_ok']}; raw: {path}")
    for kind, prof in result.get("profile", {}).items():
        for who in ("dfget", "supernode"):
            print(f"py-spy {who} ({kind} run, {prof['run']['mb_per_s']} MB/s under the profiler), top self:")
            for pct, frame in (prof[who] or {}).get("self", [])[:12]:
                print(f"  {pct:5.1f}%  {frame[:150]}")
    return 0 if s["all_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
