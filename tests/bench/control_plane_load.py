"""The load generator of the control-plane benchmark (tests/bench/control_plane.py): v1 pull loops
of many simulated peers over raw keep-alive sockets, in gevent, with pre-formatted request lines
so that the generator is not the bottleneck (its CPU use is reported with every phase).
"""

import json
import os
import time
from collections import deque

import gevent
import gevent.lock
from gevent import socket as gsocket

from tests.bench import _common as bc


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
            length = int(lower[i + 15 : lower.find(b"\r\n", i) if lower.find(b"\r\n", i) > 0 else None])
        need = end + 4 + length
        while len(buf) < need:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        body, self.buf = buf[end + 4 : need], buf[need:]
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
        return {
            "seconds": round(seconds, 3),
            "peer_task_calls": n_task,
            "peer_task_per_s": round(n_task / seconds, 1),
            "piece_suc_calls": n_suc,
            "piece_suc_per_s": round(n_suc / seconds, 1),
            "requests_per_s": round((n_task + n_suc) / seconds, 1),
            "peer_task_latency": bc.latency_summary(self.task_lat),
            "piece_suc_latency": bc.latency_summary(self.suc_lat),
            "answers": {str(k): v for k, v in sorted(self.codes.items())},
            "pieces_assigned": self.pieces_assigned,
            "share_assigned_from_peers": round(self.assigned_from_peers / max(self.pieces_assigned, 1), 3),
            "errors": self.errors,
        }


class Peer:
    __slots__ = ("i", "cid", "reports", "started", "done", "backoff", "suc_due", "conn", "last")

    def __init__(self, i: int, conn: Conn):
        self.i = i
        self.cid = f"127.0.0.1-bench-{os.getpid()}-{i:05d}"
        self.reports = deque()  # (range, dstCid) of pieces "downloaded", not yet reported
        self.started = False
        self.done = False
        self.backoff = (0.05, 0.1)
        self.suc_due = None  # the piece just reported: its /peer/piece/suc goes next
        self.last = ""  # the query of the last /peer/task: v1 sends it again after a 602
        self.conn = conn


class Load:
    """Drives every peer's v1 pull loop; the phase decides pacing and in-flight bounds."""

    def __init__(self, host: str, port: int, task_id: str, peers: "list[Peer]", stats: Stats, rng):
        self.host, self.port, self.task_id = host, port, task_id
        self.peers, self.stats, self.rng = peers, stats, rng
        self.recording = False
        self.stop = False
        self.gate = None  # gevent BoundedSemaphore in saturation mode
        self.rate = None  # paced mode: pulls/s over all peers
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
                # nothing new to report: v1's dfget sends its last item again (the start item or
                # its last piece report; a v1 supernode refuses status 701 without a range)
                q = peer.last
            peer.last = q
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
                self._call(
                    conn,
                    self.suc_prefix + f"{peer.cid}&dstCid={dst}&pieceRange={rng_}".encode() + self.suc_suffix,
                    st.suc_lat,
                    None,
                )
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
            body = json.dumps(
                {
                    "superNodeIp": host,
                    "rawUrl": url,
                    "taskUrl": url,
                    "cid": f"127.0.0.1-bench-{os.getpid()}-{i:05d}",
                    "ip": "127.0.0.1",
                    "hostName": f"bench{i}",
                    "port": 15000 + i,
                    "path": f"/peer/file/bench-{i:05d}",
                    "version": "1.0.6",
                    "callSystem": "bench",
                    "headers": [],
                }
            ).encode()
            raw = (
                f"POST /peer/registry HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
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
    return {
        "route": "/_ping",
        "per_s": round(n / elapsed, 1),
        "latency": bc.latency_summary(lat[:n]),
        "worker_cpu_util": round((cpu1 - cpu0) / elapsed, 3),
        "concurrency": concurrency,
    }


def run_phase(
    load: Load, seconds: float, *, warmup: float, concurrency=None, rate=None, worker_pid=None, profile_base=None
) -> dict:
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
