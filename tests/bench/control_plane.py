"""Control-plane benchmark: `/peer/task` calls per second and latency with 1,000 simulated peers on
one task of >= 500 pieces, against the real supernode under gunicorn (one gevent worker).

    python -m tests.bench.control_plane [--quick] [--peers 1000] [--window 20] [--rates 400,2000] [--profile]

The task: an origin serves a SPARSE file (`truncate`, no data blocks) of 500 x 15 MiB, the
supernode runs with `--cdn-pattern source`, so the task is SUCCESS at once and every piece is
available on the "supernode" (clients would range-GET the origin); no piece bytes move at all.
1,000 peers register (distinct cid, port 15000+i, ip 127.0.0.1, v1 JSON keys), then each runs
v1's pull loop on its own keep-alive connection: `/peer/task` carrying the previous piece's report
(status 701, result 503), then `/peer/piece/suc` for that piece (holders grow, the scheduler does
real work), 602 -> v1's back-off (random 50-100 ms doubling up to 800-1600 ms).

Phases (each bounded in time and count):
  saturation: closed loop, at most --concurrency requests in flight -> the maximum rate;
  paced: open loop, /peer/task calls scheduled at each of --rates per second over all peers;
         latency is measured from the scheduled time (no coordinated omission).

The supernode's worker is pinned to CPU 0 and this generator to CPU 1 (sched_setaffinity, what
`taskset` does). The generator is gevent + raw sockets + pre-formatted request lines; its own CPU
use is reported so one can see it is not the bottleneck.
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
from collections import deque

import gevent
import gevent.event
import gevent.lock
from gevent import socket as gsocket

from tests.bench import _common as bc
from tests.support.procs import start_origin, start_supernode

PIECE = 15 * 1024 * 1024
STOP = object()


class Conn:
    """One persistent HTTP/1.1 connection; requests are pre-formatted bytes."""

    __slots__ = ("host", "port", "sock", "buf")

    def __init__(self, host: str, port: int):
        self.host, self.port, self.sock, self.buf = host, port, None, b""

    def _connect(self):
        self.sock = gsocket.create_connection((self.host, self.port), timeout=30)
        self.sock.setsockopt(gsocket.IPPROTO_TCP, gsocket.TCP_NODELAY, 1)
        self.buf = b""

    def request(self, raw: bytes) -> "tuple[int, bytes]":
        for attempt in (0, 1):
            if self.sock is None:
                self._connect()
            try:
                self.sock.sendall(raw)
                return self._read()
            except (ConnectionError, OSError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _read(self) -> "tuple[int, bytes]":
        buf = self.buf
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        head = buf[:end]
        status = int(head[9:12])
        length = 0
        lower = head.lower()
        i = lower.find(b"content-length:")
        if i >= 0:
            length = int(lower[i + 15:lower.find(b"\r\n", i) if lower.find(b"\r\n", i) > 0 else None])
        need = end + 4 + length
        while len(buf) < need:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        body, self.buf = buf[end + 4:need], buf[need:]
        if b"connection: close" in lower:
            self.close()
        return status, body

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock, self.buf = None, b""


class Stats:
    def __init__(self):
        self.reset()

    def reset(self):
        self.task_lat, self.suc_lat = [], []
        self.codes = {}
        self.errors = 0
        self.pieces_assigned = 0
        self.assigned_from_peers = 0

    def snapshot(self, seconds: float) -> dict:
        n_task, n_suc = len(self.task_lat), len(self.suc_lat)
        return {"seconds": round(seconds, 3),
                "peer_task_calls": n_task, "peer_task_per_s": round(n_task / seconds, 1),
                "piece_suc_calls": n_suc, "piece_suc_per_s": round(n_suc / seconds, 1),
                "requests_per_s": round((n_task + n_suc) / seconds, 1),
                "peer_task_latency": bc.latency_summary(self.task_lat),
                "piece_suc_latency": bc.latency_summary(self.suc_lat),
                "answers": {str(k): v for k, v in sorted(self.codes.items())},
                "pieces_assigned": self.pieces_assigned,
                "share_assigned_from_peers": round(self.assigned_from_peers / max(self.pieces_assigned, 1), 3),
                "errors": self.errors}


class Peer:
    __slots__ = ("i", "cid", "reports", "started", "done", "backoff", "suc_due", "conn")

    def __init__(self, i: int, conn: Conn):
        self.i = i
        self.cid = f"127.0.0.1-bench-{os.getpid()}-{i:05d}"
        self.reports = deque()       # (range, dstCid) of pieces "downloaded", not yet reported
        self.started = False
        self.done = False
        self.backoff = (0.05, 0.1)
        self.suc_due = None          # the piece just reported: its /peer/piece/suc goes next
        self.conn = conn


class Load:
    """Drives every peer's v1 pull loop; the phase decides pacing and in-flight bounds."""

    def __init__(self, host: str, port: int, task_id: str, peers: "list[Peer]", stats: Stats, rng):
        self.host, self.port, self.task_id = host, port, task_id
        self.peers, self.stats, self.rng = peers, stats, rng
        self.recording = False
        self.stop = False
        self.gate = None             # gevent BoundedSemaphore in saturation mode
        self.rate = None             # paced mode: pulls/s over all peers
        self.t0 = 0.0
        self.k = 0
        hdr = f"Host: {host}:{port}\r\nUser-Agent: dfget/1.0.6\r\nAccept: */*\r\n\r\n"
        self.task_prefix = b"GET /peer/task?srcCid="
        self.task_suffix = f"&taskId={task_id} HTTP/1.1\r\n{hdr}".encode()
        self.suc_prefix = f"GET /peer/piece/suc?taskId={task_id}&cid=".encode()
        self.suc_suffix = f" HTTP/1.1\r\n{hdr}".encode()

    def _slot(self) -> float:
        """Paced mode: the scheduled time of the next /peer/task call (evenly spaced)."""
        slot = self.t0 + self.k / self.rate
        self.k += 1
        return slot

    def run_peer(self, peer: Peer):
        st, conn = self.stats, peer.conn
        while not self.stop and not peer.done:
            if self.rate:
                intended = self._slot()
                delay = intended - time.perf_counter()
                if delay > 0:
                    gevent.sleep(delay)
                if self.stop:
                    return
            else:
                intended = None
            if peer.reports:
                rng_, dst = peer.reports.popleft()
                q = f"{peer.cid}&dstCid={dst}&range={rng_}&result=503&status=701"
                peer.suc_due = (rng_, dst)
            elif not peer.started:
                q = f"{peer.cid}&dstCid=&range=&result=502&status=700"
            else:
                q = f"{peer.cid}&dstCid=&range=&result=502&status=701"
            raw = self.task_prefix + q.encode() + self.task_suffix
            answer = self._call(conn, raw, st.task_lat, intended)
            if answer is None:
                continue
            peer.started = True
            code = answer.get("code")
            data = answer.get("data")
            key = code if not (code == 601 and not data) else "601-limited"
            if self.recording:
                st.codes[key] = st.codes.get(key, 0) + 1
            if peer.suc_due is not None:
                rng_, dst = peer.suc_due
                peer.suc_due = None
                self._call(conn, self.suc_prefix + f"{peer.cid}&dstCid={dst}&pieceRange={rng_}".encode() + self.suc_suffix,
                           st.suc_lat, None)
            if code == 601 and data:
                peer.backoff = (0.05, 0.1)
                for p in data:
                    peer.reports.append((p["range"], p["cid"]))
                if self.recording:
                    st.pieces_assigned += len(data)
                    st.assigned_from_peers += sum(1 for p in data if not p["cid"].startswith("cdnnode:"))
            elif code == 600:
                peer.done = True
            elif code == 602 or (code == 601 and not peer.reports):
                lo, hi = peer.backoff
                gevent.sleep(self.rng.uniform(lo, hi))
                peer.backoff = (min(lo * 2, 0.8), min(hi * 2, 1.6))
            elif code != 601:
                if self.recording:
                    st.errors += 1
                gevent.sleep(0.1)

    def _call(self, conn: Conn, raw: bytes, lat_list, intended):
        gate = self.gate
        if gate is not None:
            gate.acquire()
        try:
            t = time.perf_counter() if intended is None else intended
            status, body = conn.request(raw)
            if self.recording:
                lat_list.append(time.perf_counter() - t)
            if status != 200:
                if self.recording:
                    self.stats.errors += 1
                return None
            return json.loads(body) if body.strip() else {}
        except (OSError, ValueError):
            if self.recording:
                self.stats.errors += 1
            return None
        finally:
            if gate is not None:
                gate.release()

    def spawn_all(self):
        return [gevent.spawn(self._guarded, p) for p in self.peers]

    def _guarded(self, peer: Peer):
        while not self.stop and not peer.done:
            try:
                self.run_peer(peer)
            except Exception:  # noqa: BLE001 - one peer's surprise must not end the run
                if self.recording:
                    self.stats.errors += 1
                gevent.sleep(0.1)


def register_all(host: str, port: int, url: str, n: int, concurrency: int = 16) -> "tuple[str, list[float]]":
    conns = [Conn(host, port) for _ in range(concurrency)]
    lat, task_ids = [], set()
    todo = deque(range(n))

    def worker(conn):
        while todo:
            i = todo.popleft()
            body = json.dumps({"superNodeIp": host, "rawUrl": url, "taskUrl": url,
                               "cid": f"127.0.0.1-bench-{os.getpid()}-{i:05d}", "ip": "127.0.0.1",
                               "hostName": f"bench{i}", "port": 15000 + i,
                               "path": f"/peer/file/bench-{i:05d}", "version": "1.0.6", "callSystem": "bench",
                               "headers": []}).encode()
            raw = (f"POST /peer/registry HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            t = time.perf_counter()
            status, resp = conn.request(raw)
            lat.append(time.perf_counter() - t)
            answer = json.loads(resp)
            if status != 200 or answer.get("code") != 200:
                raise RuntimeError(f"registration {i} failed: {status} {resp[:300]!r}")
            task_ids.add(answer["data"]["taskId"])
    gevent.joinall([gevent.spawn(worker, c) for c in conns], raise_error=True, timeout=300)
    for c in conns:
        c.close()
    if len(task_ids) != 1:
        raise RuntimeError(f"expected one task, got {task_ids}")
    return task_ids.pop(), lat


def ceiling(host: str, port: int, seconds: float, concurrency: int, worker_pid: int) -> dict:
    """The framework's ceiling on this machine: GET /_ping (no state, no JSON) in a closed loop."""
    raw = f"GET /_ping HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    lat, stop = [], [False]

    def worker():
        conn = Conn(host, port)
        while not stop[0]:
            t = time.perf_counter()
            conn.request(raw)
            lat.append(time.perf_counter() - t)
        conn.close()
    glets = [gevent.spawn(worker) for _ in range(concurrency)]
    gevent.sleep(0.5)
    lat.clear()
    cpu0, t0 = bc.cpu_seconds(worker_pid), time.perf_counter()
    gevent.sleep(seconds)
    n, elapsed = len(lat), time.perf_counter() - t0
    cpu1 = bc.cpu_seconds(worker_pid)
    stop[0] = True
    gevent.joinall(glets, timeout=10)
    return {"route": "/_ping", "per_s": round(n / elapsed, 1), "latency": bc.latency_summary(lat[:n]),
            "worker_cpu_util": round((cpu1 - cpu0) / elapsed, 3), "concurrency": concurrency}


def run_phase(load: Load, seconds: float, *, warmup: float, concurrency=None, rate=None,
              worker_pid=None, profile_base=None) -> dict:
    load.stats.reset()
    load.gate = gevent.lock.BoundedSemaphore(concurrency) if concurrency else None
    load.rate = rate
    load.stop = False
    load.recording = False
    load.t0, load.k = time.perf_counter(), 0
    glets = load.spawn_all()
    gevent.sleep(warmup)
    spy = bc.py_spy(worker_pid, profile_base, int(seconds)) if profile_base else None
    cpu_w0, cpu_g0, busy0 = bc.cpu_seconds(worker_pid), bc.cpu_seconds(os.getpid()), bc.cpu_busy_seconds(0)
    load.recording = True
    t_start = time.perf_counter()
    gevent.sleep(seconds)
    load.recording = False
    elapsed = time.perf_counter() - t_start
    cpu_w1, cpu_g1, busy1 = bc.cpu_seconds(worker_pid), bc.cpu_seconds(os.getpid()), bc.cpu_busy_seconds(0)
    load.stop = True
    gevent.joinall(glets, timeout=30)
    gevent.killall([g for g in glets if not g.dead], timeout=5)
    out = load.stats.snapshot(elapsed)
    out["worker_cpu_util"] = round((cpu_w1 - cpu_w0) / elapsed, 3)
    out["generator_cpu_util"] = round((cpu_g1 - cpu_g0) / elapsed, 3)
    # CPU 0 is the worker's: anything else running there (other people's jobs) distorts the figure
    out["cpu0_other_util"] = round(max((busy1 - busy0) - (cpu_w1 - cpu_w0), 0.0) / elapsed, 3)
    out["concurrency"] = concurrency
    out["target_rate"] = rate
    if spy is not None:
        bc.wait_proc(spy, seconds + 30)
        out["profile"] = bc.top_frames(profile_base + ".txt", 20)
        out["profile_file"] = profile_base + ".txt"
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter windows (8 s)")
    ap.add_argument("--peers", type=int, default=1000)
    ap.add_argument("--pieces", type=int, default=500, help="file length = pieces x 15 MiB (sparse)")
    ap.add_argument("--window", type=float, default=20.0, help="measurement window per phase (s)")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--concurrency", type=int, default=32, help="in-flight bound of the saturation phase")
    ap.add_argument("--rates", default="400,2000",
                    help="comma list of /peer/task calls/s for the paced phases (open loop)")
    ap.add_argument("--profile", action="store_true", help="py-spy the worker during the saturation window")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--supernode-flag", action="append", default=[], help="extra supernode flag (repeatable)")
    args = ap.parse_args(argv)
    if args.quick:
        args.window, args.warmup = min(args.window, 8.0), min(args.warmup, 2.0)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    work = tempfile.mkdtemp(prefix="bench-cp-")
    origin = supernode = None
    result = {"benchmark": "control_plane", "machine": bc.machine(), "args": vars(args)}
    try:
        root = os.path.join(work, "origin")
        os.makedirs(root)
        length = args.pieces * PIECE
        with open(os.path.join(root, "big.bin"), "wb") as f:
            f.truncate(length)              # sparse: no data blocks
        origin, oport = start_origin(root, os.path.join(work, "origin.log"))
        supernode, api, _dl = start_supernode(os.path.join(work, "sn"), os.path.join(work, "sn.log"),
                                              "--cdn-pattern", "source", *args.supernode_flag)
        workers = bc.children(supernode.pid)
        if len(workers) != 1:
            raise RuntimeError(f"expected one gunicorn worker, found {workers}")
        worker = workers[0]
        pinned = bc.pin(worker, 0) and bc.pin(supernode.pid, 0) and bc.pin(os.getpid(), 1)
        result["pinned"] = pinned
        result["worker_pid"] = worker
        url = f"http://127.0.0.1:{oport}/big.bin"

        rss0 = bc.rss_bytes(worker)
        task_id, _ = register_all("127.0.0.1", api, url, 1)
        rss1 = bc.rss_bytes(worker)
        t = time.perf_counter()
        task_id2, reg_lat = register_all("127.0.0.1", api, url, args.peers, 16)
        reg_s = time.perf_counter() - t
        assert task_id2 == task_id
        rss2 = bc.rss_bytes(worker)
        info = json.loads(subprocess.run(["curl", "-s", "-m", "10", f"http://127.0.0.1:{api}/api/v1/tasks/{task_id}"],
                                         capture_output=True, text=True, timeout=20).stdout or "{}")
        result["task"] = {"id": task_id, "file_length": length, "piece_size": PIECE,
                          "info": {k: info.get(k) for k in ("pieceTotal", "pieceSize", "cdnStatus", "httpFileLength")}}
        result["registration"] = {"peers": args.peers, "seconds": round(reg_s, 3),
                                  "per_s": round(args.peers / reg_s, 1), "latency": bc.latency_summary(reg_lat)}
        # the first registration of the task re-registered above (same cid 0) -> one more peer record
        result["memory"] = {"worker_rss_start": rss0, "worker_rss_after_task": rss1, "worker_rss_after_peers": rss2,
                            "bytes_per_peer_registered": round((rss2 - rss1) / args.peers)}

        rng = random.Random(7)
        peers = [Peer(i, Conn("127.0.0.1", api)) for i in range(args.peers)]
        load = Load("127.0.0.1", api, task_id, peers, Stats(), rng)
        profile_base = os.path.join(bc.RESULTS_DIR, f"control_plane-worker-{time.strftime('%Y%m%d-%H%M%S')}") \
            if args.profile else None
        if profile_base:
            os.makedirs(bc.RESULTS_DIR, exist_ok=True)
        result["ceiling"] = ceiling("127.0.0.1", api, min(args.window, 5.0), args.concurrency, worker)
        print(f"[ceiling] {result['ceiling']}", file=sys.stderr)
        result["saturation"] = run_phase(load, args.window, warmup=args.warmup, concurrency=args.concurrency,
                                         worker_pid=worker, profile_base=profile_base)
        _print_phase("saturation", result["saturation"])
        result["paced"] = []
        for rate in [float(r) for r in args.rates.split(",") if r.strip()]:
            ph = run_phase(load, args.window, warmup=args.warmup, rate=rate, worker_pid=worker)
            result["paced"].append(ph)
            _print_phase(f"paced at {rate:g}/s", ph)
        rss3 = bc.rss_bytes(worker)
        result["memory"]["worker_rss_after_load"] = rss3
        result["memory"]["bytes_per_peer_after_load"] = round((rss3 - rss1) / args.peers)
        for p in peers:
            p.conn.close()
        result["ok"] = True
    finally:
        if supernode is not None:
            supernode.stop()
        if origin is not None:
            origin.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    path = bc.write_result("control_plane", result)
    print(json.dumps(result, indent=2, sort_keys=True))
    s, m = result["saturation"], result["memory"]
    print(f"\n== control plane: {args.peers} peers, one task of {result['task']['info'].get('pieceTotal')} pieces, "
          f"pinned={result['pinned']} ==")
    print(f"saturation (<= {args.concurrency} in flight): {s['peer_task_per_s']} /peer/task/s + "
          f"{s['piece_suc_per_s']} /peer/piece/suc/s; p50 {s['peer_task_latency']['p50_ms']} ms, "
          f"p99 {s['peer_task_latency']['p99_ms']} ms; worker CPU {s['worker_cpu_util']}, "
          f"generator CPU {s['generator_cpu_util']}, other load on CPU 0 {s['cpu0_other_util']}")
    for p in result["paced"]:
        print(f"paced at {p['target_rate']:g}/s: achieved {p['peer_task_per_s']} /peer/task/s + {p['piece_suc_per_s']} suc/s; "
              f"p50 {p['peer_task_latency']['p50_ms']} ms, p90 {p['peer_task_latency']['p90_ms']} ms, "
              f"p99 {p['peer_task_latency']['p99_ms']} ms (from the scheduled time); answers {p['answers']}")
    c = result["ceiling"]
    print(f"framework ceiling (GET /_ping, same generator): {c['per_s']} req/s; /peer/task + /peer/piece/suc pairs "
          f"reach {round(s['requests_per_s'] / c['per_s'], 2)} of it")
    print(f"memory: {m['bytes_per_peer_registered']} B/peer registered, {m['bytes_per_peer_after_load']} B/peer after load")
    print(f"raw: {path}")
    return 0


def _print_phase(name, ph):
    print(f"[{name}] {ph['peer_task_per_s']} task/s {ph['piece_suc_per_s']} suc/s lat {ph['peer_task_latency']} "
          f"answers {ph['answers']} cpu w={ph['worker_cpu_util']} g={ph['generator_cpu_util']} "
          f"cpu0 other={ph['cpu0_other_util']}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
