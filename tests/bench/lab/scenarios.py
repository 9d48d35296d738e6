"""One lab run = one fresh lab (namespaces, shaping), one system (dfget, curl or a BitTorrent swarm),
one scenario (flash crowd, staggered arrivals, mixed bandwidth). Returns a JSON-able dict.

Roles: origin (.2, a plain HTTP server that counts bytes: tests/support/origin.py), supernode (.3),
tracker (.4, unshaped, BitTorrent only), peers (.10 ...). Every lab process runs in its host's
namespace; readings of lab services are taken from inside a namespace too (curl via nsenter).
"""

import hashlib
import json
import math
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

from tests.bench._common import py_spy, top_frames
from tests.bench.lab.netlab import Lab, LabError, _ns_pids, proc_cmd, proc_cpu, proc_hwm

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MiB = 1 << 20
API_PORT, DL_PORT, ORIGIN_PORT, TRACKER_PORT = 8002, 8001, 8080, 6969
ARIA_FLAGS = [
    "--enable-dht=false",
    "--enable-dht6=false",
    "--bt-enable-lpd=false",
    "--disable-ipv6=true",
    "--seed-ratio=0.0",
    "--file-allocation=none",
    "--summary-interval=0",
    "--console-log-level=warn",
    "--check-certificate=false",
    "--bt-detach-seed-only=false",
    "--auto-save-interval=0",
    "--bt-save-metadata=false",
    "--enable-peer-exchange=true",
]


# ---------------------------------------------------------------- files, bounds, statistics
def make_file(path: str, size: int, seed: int) -> str:
    """Deterministic content; returns its sha256."""
    rng = random.Random(seed)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = rng.randbytes(min(MiB, left))
            f.write(chunk)
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def sha256_of(path: str) -> "str | None":
    if not os.path.isfile(path):
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(4 * MiB), b""):
            h.update(chunk)
    return h.hexdigest()


def adaptive_piece_size(length: int) -> int:
    """decisions.md item 12: length/64 rounded up to a whole MiB, clamped to [1, 15] MiB."""
    return min(15 * MiB, max(MiB, -(-length // (64 * MiB)) * MiB))


def bounds(size: int, n: int, u_o: float, u_sn: float, ups, downs, piece: int) -> dict:
    """T_fluid and T_pieces (method.md), rates in Mbit/s, times in seconds."""
    f = size * 8 / 1e6  # Mbit
    inf = 1e5  # unshaped (calibration): a rate of 100 Gbit/s
    u_o, u_sn = u_o or inf, u_sn or inf
    ups, downs = [x or inf for x in ups], [x or inf for x in downs]
    t_fluid = max(f / u_o, f / u_sn, f / min(downs), n * f / (u_sn + sum(ups)))
    m = math.ceil(size / piece)
    u = min([u_o, u_sn] + list(ups) + list(downs))
    t_pieces = (f / u) * (1 + math.floor(math.log2(max(n, 1))) / m)
    # BitTorrent: one seed on the origin, no supernode
    t_bt = max(f / u_o, f / min(downs), n * f / (u_o + sum(ups)))
    t_cs = max(n * f / u_o, f / min(downs))  # client-server (N x curl)
    return {
        "T_fluid": round(t_fluid, 3),
        "T_pieces": round(max(t_pieces, t_fluid), 3),
        "pieces": m,
        "piece_size": piece,
        "T_fluid_bt": round(t_bt, 3),
        "T_client_server": round(t_cs, 3),
    }


def code_state() -> dict:
    """Which code ran: HEAD plus a hash of the uncommitted changes to the product (others edit the
    working tree in parallel; a run must say what it measured)."""

    def git(*a):
        r = subprocess.run(["git", *a], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30)
        return r.stdout

    diff = git("diff", "HEAD", "--", "supernode", "dfget", "common")
    return {
        "head": git("rev-parse", "--short", "HEAD").decode().strip(),
        "dirty_product_diff_sha1": hashlib.sha1(diff).hexdigest()[:12] if diff else None,
        "dirty_files": git("diff", "--name-only", "HEAD", "--", "supernode", "dfget", "common").decode().split(),
    }


def pct(values, q):
    v = sorted(values)
    if not v:
        return None
    k = min(len(v) - 1, max(0, math.ceil(q / 100.0 * len(v)) - 1))  # nearest-rank
    return round(v[k], 3)


def summary(times) -> dict:
    return {
        "p50": pct(times, 50),
        "p90": pct(times, 90),
        "p99": pct(times, 99),
        "max": pct(times, 100),
        "min": pct(times, 0.0001),
    }


class CpuMeter:
    """Machine-wide CPU utilisation between start() and stop() (all processes, other engineers too)."""

    @staticmethod
    def _read():
        with open("/proc/stat") as f:
            x = [int(v) for v in f.readline().split()[1:]]
        idle = x[3] + x[4]
        return sum(x), idle

    def start(self):
        self.t0, self.i0 = self._read()
        self.load0 = os.getloadavg()
        return self

    def stop(self) -> dict:
        t1, i1 = self._read()
        busy = (t1 - self.t0) - (i1 - self.i0)
        return {
            "cpu_util_pct": round(100.0 * busy / max(1, t1 - self.t0), 1),
            "cpu_busy_s": round(busy / os.sysconf("SC_CLK_TCK"), 2),
            "loadavg_before": self.load0,
            "loadavg_after": os.getloadavg(),
            "cpus": os.cpu_count(),
        }


# ---------------------------------------------------------------- lab construction
def peer_rates(n, u, d, scenario):
    """(up, down) Mbit/s per peer; 'mixed': every second peer at a quarter rate both ways."""
    return [((u / 4, d / 4) if scenario == "mixed" and i % 2 == 1 else (u, d)) for i in range(n)]


def start_times(n, scenario, spread):
    """Seconds after t0 each peer starts: flash crowd within ~0; staggered evenly over `spread`."""
    if scenario == "staggered" and n > 1:
        return [i * spread / (n - 1) for i in range(n)]
    return [0.0] * n


def ns_get(host, url, timeout=10.0) -> "str | None":
    """HTTP GET from inside a host namespace (never from the root namespace)."""
    r = host.run(["curl", "-s", "-f", "--max-time", str(timeout), url], timeout=timeout + 5, check=False)
    return r.stdout if r.returncode == 0 else None


def wait_for(pred, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise LabError(f"timed out after {timeout}s waiting for {what}")


def start_origin(lab, host, root, work):
    p = host.popen(
        [sys.executable, "-m", "tests.support.origin", "--root", root, "--host", host.ip, "--port", str(ORIGIN_PORT)],
        os.path.join(work, "origin.log"),
        cwd=REPO,
    )
    wait_for(lambda: "origin port is" in p.output() or p.poll() is not None, 15, "the origin")
    if p.poll() is not None:
        raise LabError("origin exited: " + p.output())
    return p


def origin_stats(host) -> dict:
    s = ns_get(host, f"http://{host.ip}:{ORIGIN_PORT}/_stats")
    return json.loads(s) if s else {}


def metric_sum(text: str, name: str) -> float:
    total = 0.0
    for line in (text or "").splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _collect_ns_procs(lab):
    out = {}
    for name, h in lab.hosts.items():
        out[name] = [
            {"pid": p, "cmd": proc_cmd(p)[:100], "cpu_s": round(proc_cpu(p), 3), "peak_rss": proc_hwm(p)}
            for p in _ns_pids(h.ns)
        ]
    return out


def _timelines(home: str, t0: float):
    """dfget's 'downloading piece:' log lines -> [(seconds since t0, pieceNum, dstCid)]."""
    out = []
    path = os.path.join(home, "logs", "dfclient.log")
    if not os.path.isfile(path):
        return out
    with open(path, errors="replace") as f:
        for line in f:
            i = line.find("downloading piece:")
            if i < 0:
                continue
            try:
                d = json.loads(line[i + len("downloading piece:") :].strip())
                ts = line[:23]
                import datetime

                t = datetime.datetime.strptime(ts, "%Y-%m-%d %H:%M:%S.%f").timestamp()
                out.append((round(t - t0, 3), d.get("pieceNum"), d.get("dstCid", "")))
            except (ValueError, KeyError):
                continue
    return out


class UplinkSampler:
    """Each host's upload over time, from its bridge port's byte counters (what tc let through),
    sampled every `interval` s in a thread until `stop()`; bounded by `limit_s`."""

    def __init__(self, lab, interval: float = 0.5, limit_s: float = 900.0):
        import threading

        self.lab, self.interval, self.limit_s = lab, interval, limit_s
        self.samples: list[tuple[float, dict]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, t0: float) -> "UplinkSampler":
        self.t0 = t0
        self._thread.start()
        return self

    def _run(self) -> None:
        end = time.monotonic() + self.limit_s
        while not self._stop.is_set() and time.monotonic() < end:
            self.samples.append((time.time() - self.t0, self.lab.port_counters()))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def utilisation(self, rates_mbit: "dict[str, float]", until: "float | None", key: str = "sent") -> dict:
        """Per host: % of its shaped link (`sent`: uplink, `received`: downlink) used in each
        interval up to `until` (the makespan), and the mean over that time."""
        series: dict[str, list[int]] = {h: [] for h in rates_mbit}
        for (t_a, a), (t_b, b) in zip(self.samples, self.samples[1:], strict=False):
            if until is not None and t_a >= until:
                break
            for h, mbit in rates_mbit.items():
                moved = b.get(h, {}).get(key, 0) - a.get(h, {}).get(key, 0)
                series[h].append(round(100 * moved * 8 / max(t_b - t_a, 1e-6) / (mbit * 1e6)))
        means = {h: round(sum(v) / len(v), 1) if v else None for h, v in series.items()}
        return {"interval_s": self.interval, "mean_pct": means, "series_pct": series}


# ---------------------------------------------------------------- the three systems
def run(system: str, cfg: dict, work: str) -> dict:
    """cfg: n, size, u, d, u_origin, u_sn, scenario, seed, spread, cap, profile, piece_policy."""
    os.makedirs(work, exist_ok=True)
    n, size = cfg["n"], cfg["size"]
    rates = peer_rates(n, cfg["u"], cfg["d"], cfg["scenario"])
    piece = adaptive_piece_size(size) if cfg.get("piece_policy", "adaptive") == "adaptive" else 4 * MiB
    b = bounds(size, n, cfg["u_origin"], cfg["u_sn"], [r[0] for r in rates], [r[1] for r in rates], piece)
    origin_root = os.path.join(work, "origin")
    os.makedirs(origin_root, exist_ok=True)
    src = os.path.join(origin_root, "blob.bin")
    want = make_file(src, size, cfg["seed"])
    result = {
        "system": system,
        "config": dict(cfg),
        "bounds": b,
        "origin_sha256": want,
        "file_size": size,
        "code": code_state() if system == "dfget" else None,
    }
    env_home = os.path.join(work, "env-home")
    os.makedirs(env_home, exist_ok=True)
    env = {"HOME": env_home, "PYTHONPATH": REPO}
    with Lab() as lab:
        origin = lab.add_host("origin", 2, cfg["u_origin"], cfg["u_origin"])
        sn = lab.add_host("sn", 3, cfg["u_sn"], cfg["u_sn"]) if system in ("dfget", "v1", "v1-client") else None
        tracker = lab.add_host("tracker", 4, None, None) if system == "aria2" else None
        peers = [lab.add_host(f"peer{i}", 10 + i, up, down) for i, (up, down) in enumerate(rates)]
        result["subnet"] = lab.subnet
        if system == "aria2":
            _run_aria2(lab, cfg, work, origin, tracker, peers, src, result, env)
        else:
            start_origin(lab, origin, origin_root, work)
            if system in ("dfget", "v1-client"):  # v1-client: v1's Go dfget against our supernode
                _run_dfget(
                    lab,
                    dict(cfg, client_bin=os.path.join(v1_binaries(work), "dfget")) if system == "v1-client" else cfg,
                    work,
                    origin,
                    sn,
                    peers,
                    result,
                    env,
                )
            elif system == "v1":
                _run_v1(lab, cfg, work, origin, sn, peers, result, env)
            else:
                _run_curl(lab, cfg, work, origin, peers, result, env)
            result["origin_stats"] = origin_stats(origin)
        result["ports"] = lab.port_counters()
        result["ns_processes"] = _collect_ns_procs(lab)
    # derived figures
    ok = [p for p in result["peers"] if p["sha256"] == want]
    result["all_identical"] = len(ok) == n
    times = [p["time"] for p in result["peers"] if p.get("time") is not None]
    result["completion"] = summary(times)
    # each host against its own download bound F/d_i (staggered and mixed: slow hosts must not
    # slow the fast ones, late ones must not wait for the early ones)
    own = [
        p["time"] / (size * 8 / 1e6 / d)
        for p, (_, d) in zip(result["peers"], rates, strict=True)
        if p.get("time") is not None and d
    ]
    result["worst_time_over_own_F_d"] = round(max(own), 3) if own else None
    result["makespan"] = result.get("makespan")
    if result["makespan"] is not None:
        result["makespan_over_T_fluid"] = round(result["makespan"] / b["T_fluid"], 3)
        result["makespan_over_T_pieces"] = round(result["makespan"] / b["T_pieces"], 3)
        if result["completion"]["p99"] is not None:
            result["p99_over_T_fluid"] = round(result["completion"]["p99"] / b["T_fluid"], 3)
            result["p50_over_T_fluid"] = round(result["completion"]["p50"] / b["T_fluid"], 3)
    ports = result.get("ports", {})
    result["origin_egress_over_F"] = round(ports.get("origin", {}).get("sent", 0) / size, 3)
    if sn is not None:
        result["supernode_egress_over_F"] = round(ports.get("sn", {}).get("sent", 0) / size, 3)
    if result.get("origin_stats"):
        result["origin_body_bytes_over_F"] = round(sum(result["origin_stats"].get("bytes", {}).values()) / size, 3)
    peer_sent = sum(ports.get(f"peer{i}", {}).get("sent", 0) for i in range(n))
    result["peer_upload_bytes_over_NF"] = round(peer_sent / (n * size), 3)
    cpu = sum(p.get("cpu_s", 0) for p in result["peers"])
    cpu += sum(x["cpu_s"] for procs in result["ns_processes"].values() for x in procs)
    result["cpu_seconds_lab_processes"] = round(cpu, 2)
    rss = [p.get("peak_rss", 0) for p in result["peers"]] + [
        x["peak_rss"] for procs in result["ns_processes"].values() for x in procs
    ]
    result["peak_rss_max"] = max(rss) if rss else 0
    return result


def _wait_peers(procs, starts_abs, deadline_s, done_fn=None):
    """Wait (bounded) for every peer process; returns per-peer (end time or None)."""
    ends = [None] * len(procs)
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and any(e is None for e in ends):
        for i, p in enumerate(procs):
            if ends[i] is None and p is not None and p.poll() is not None:
                ends[i] = p.ended
        time.sleep(0.02)
    return ends


def _launch_staggered(starts, launch):
    """Start peer i at t0 + starts[i] (bounded: the last start is known); returns t0 and procs."""
    t0 = time.time() + 0.2
    procs = [None] * len(starts)
    real = [None] * len(starts)
    order = sorted(range(len(starts)), key=lambda i: starts[i])
    for i in order:
        delay = t0 + starts[i] - time.time()
        if delay > 0:
            time.sleep(delay)
        real[i] = time.time()
        procs[i] = launch(i)
    return t0, procs, real


def _dfget_argv(binary: str, url: str, out: str, sn, home: str, peer) -> "list[str]":
    """A lab peer's download (ours or v1's Go dfget): no local rate limit below the shaped link."""
    return [
        binary,
        "-u",
        url,
        "-o",
        out,
        "--node",
        f"{sn.ip}:{API_PORT}",
        "--home",
        home,
        "--ip",
        peer.ip,
        "-s",
        "1000MB",
    ]


def _run_dfget(lab, cfg, work, origin, sn, peers, result, env):
    n, size = cfg["n"], cfg["size"]
    sn_home = os.path.join(work, "sn-home")
    sn_args = [
        "supernode",
        "--home-dir",
        sn_home,
        "--port",
        str(API_PORT),
        "--download-port",
        str(DL_PORT),
        "--listen-address",
        sn.ip,
        "--advertise-ip",
        sn.ip,
        "--piece-size-policy",
        cfg.get("piece_policy", "adaptive"),
    ] + list(cfg.get("sn_extra", []))
    snp = sn.popen(sn_args, os.path.join(work, "supernode.out"), env=env)
    wait_for(
        lambda: (
            (snp.poll() is None or (_ for _ in ()).throw(LabError("supernode exited: " + snp.output())))
            and ns_get(sn, f"http://{sn.ip}:{API_PORT}/_ping", 2) == "OK"
            and ns_get(sn, f"http://{sn.ip}:{DL_PORT}/_ping", 2) is not None
        ),
        30,
        "the supernode",
    )
    url = f"http://{origin.ip}:{ORIGIN_PORT}/blob.bin"
    starts = start_times(n, cfg["scenario"], cfg.get("spread", 0))
    homes = [os.path.join(work, f"peer{i}") for i in range(n)]
    outs = [os.path.join(work, f"out{i}.bin") for i in range(n)]
    for h in homes:
        os.makedirs(h, exist_ok=True)

    def launch(i):
        argv = _dfget_argv(cfg.get("client_bin", "dfget"), url, outs[i], sn, homes[i], peers[i])
        argv += ["--alivetime", "15m", "--expiretime", "15m", "--notbs", *cfg.get("dfget_extra", [])]
        return peers[i].popen(argv, os.path.join(work, f"dfget{i}.log"), env=env)

    cpu = CpuMeter().start()
    spies = []  # (label, pid, out base, py-spy process); stopped with SIGINT when the run ends
    if cfg.get("profile"):
        workers = [p for p in _ns_pids(sn.ns) if p != snp.pid] or [snp.pid]
        for p in workers:
            base = os.path.join(work, f"pyspy-supernode-{p}")
            spies.append(("supernode-worker", p, base, py_spy(p, base, 3600)))
    sampler = UplinkSampler(lab).start(time.time())
    t0, procs, real = _launch_staggered(starts, launch)
    if cfg.get("profile"):
        time.sleep(0.5)
        base = os.path.join(work, "pyspy-dfget0")
        spies.append(("dfget0", procs[0].pid, base, py_spy(procs[0].pid, base, 3600)))
    cap = cfg.get("cap") or (6 * result["bounds"]["T_fluid"] + 60 + max(starts))
    ends = _wait_peers(procs, real, cap)
    result["cpu"] = cpu.stop()
    result["metrics"] = {}
    text = ns_get(sn, f"http://{sn.ip}:{API_PORT}/metrics")
    for key in (
        "dragonfly_supernode_pieces_downloaded_size_bytes_total",
        "dragonfly_supernode_pieces_downloaded_from_peers_size_bytes_total",
        "dragonfly_supernode_cdn_download_size_bytes_total",
        "dragonfly_supernode_pieces_streamed_total",
    ):
        result["metrics"][key] = metric_sum(text, key)
    result["metrics_lines"] = [
        ln
        for ln in (text or "").splitlines()
        if not ln.startswith("#")
        and (
            "http_requests_total" in ln
            or "long_poll" in ln
            or "piece_errors" in ln
            or "schedule_duration_milliseconds_sum" in ln
            or "schedule_duration_milliseconds_count" in ln
        )
    ]
    result["supernode_share"] = round(
        result["metrics"]["dragonfly_supernode_pieces_downloaded_size_bytes_total"] / (n * size), 3
    )
    result["p2p_share"] = round(
        result["metrics"]["dragonfly_supernode_pieces_downloaded_from_peers_size_bytes_total"] / (n * size), 3
    )
    result["peers"] = []
    for i in range(n):
        p = procs[i]
        if p.poll() is None:
            p.stop()
        result["peers"].append(
            {
                "ip": peers[i].ip,
                "start": round(real[i] - t0, 3),
                "exit": p.popen.returncode,
                "time": round(ends[i] - real[i], 3) if ends[i] else None,
                "end": round(ends[i] - t0, 3) if ends[i] else None,
                "sha256": sha256_of(outs[i]),
                "cpu_s": round(p.cpu_seconds(), 3),
                "peak_rss": p.peak_rss(),
                "rate": list(peer_rates(n, cfg["u"], cfg["d"], cfg["scenario"])[i]),
            }
        )
        if cfg.get("timelines", True):
            result["peers"][-1]["pieces"] = _timelines(homes[i], t0)
    ok_ends = [e for e, x in zip(ends, result["peers"], strict=True) if e and x["exit"] == 0]
    result["makespan"] = round(max(ok_ends) - t0, 3) if len(ok_ends) == n else None
    result["failures"] = n - len(ok_ends)
    sampler.stop()
    result["upload_utilisation"] = _utilisation(sampler, cfg, peers, t0, result["makespan"])
    result["failure_reasons"] = sorted(
        {
            ln.strip()[:200]
            for i in range(n)
            if result["peers"][i]["exit"] != 0
            for ln in pathlib.Path(work, f"dfget{i}.log").read_text(errors="replace").splitlines()
            if "failed to download" in ln or "FAIL(" in ln
        }
    )[:6]
    # how often the supernode sent each piece (the ideal is once: the supernode's upload is scarce)
    copies, first_piece = {}, []
    for p in result["peers"]:
        pcs = p.get("pieces") or []
        if pcs:
            first_piece.append(min(t for t, _, _ in pcs) - p["start"])
        for _, num, cid in pcs:
            if str(cid).startswith("cdnnode:"):
                copies[num] = copies.get(num, 0) + 1
    if copies:
        result["supernode_copies_per_piece"] = {
            "mean": round(sum(copies.values()) / max(1, len(copies)), 2),
            "max": max(copies.values()),
            "piece0": copies.get(0, 0),
            "pieces_seen": len(copies),
        }
    if first_piece:
        result["time_to_first_piece"] = summary(first_piece)
    task_calls = sum(
        float(ln.rsplit(" ", 1)[1])
        for ln in result["metrics_lines"]
        if "http_requests_total" in ln and "peer/task" in ln
    )
    result["peer_task_calls_per_piece"] = (
        round(task_calls / (n * result["bounds"]["pieces"]), 2) if task_calls else None
    )
    result["profiles"] = {}
    for name, pid, base, spy in spies:
        if spy is None:
            continue
        if spy.poll() is None:
            spy.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
        try:
            spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait(timeout=5)
        result["profiles"][f"{name}-{pid}"] = top_frames(base + ".txt", 15)


def v1_binaries(work: str) -> str:
    """The real v1.0.6 Go programs unpacked (checked against SHA256SUMS) into a cache directory."""
    from tests.support import v1go

    try:
        return v1go.unpack(os.path.join(os.path.dirname(work.rstrip("/")), "v1go-bin"))
    except v1go.V1GoUnavailable as e:
        raise LabError(str(e)) from None


def _run_v1(lab, cfg, work, origin, sn, peers, result, env):
    """The real Dragonfly v1.0.6 trio: Go supernode, nginx serving its CDN files on the download
    port (v1's layout: <home>/repo), Go dfget on every peer; v1's defaults (4 MiB pieces)."""
    n = cfg["n"]
    bin_dir = v1_binaries(work)
    sn_home = os.path.join(work, "v1-sn-home")
    os.makedirs(os.path.join(sn_home, "repo"), exist_ok=True)
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(
            f"worker_processes 1; daemon off; user root root; pid {work}/nginx.pid; "
            f"error_log {work}/nginx-error.log; events {{}} http {{ access_log off; sendfile on; "
            f"server {{ listen {sn.ip}:{DL_PORT}; location / {{ root {sn_home}/repo; }} }} }}\n"
        )
    sn.popen(["nginx", "-c", conf, "-p", work], os.path.join(work, "nginx.out"), env=env)
    snp = sn.popen(
        [
            os.path.join(bin_dir, "supernode"),
            "--home-dir",
            sn_home,
            "--port",
            str(API_PORT),
            "--download-port",
            str(DL_PORT),
            "--advertise-ip",
            sn.ip,
        ],
        os.path.join(work, "supernode.out"),
        env=env,
    )
    wait_for(
        lambda: (
            (snp.poll() is None or (_ for _ in ()).throw(LabError("v1 supernode exited: " + snp.output())))
            and ns_get(sn, f"http://{sn.ip}:{API_PORT}/_ping", 2) is not None
        ),
        60,
        "the v1 supernode",
    )
    url = f"http://{origin.ip}:{ORIGIN_PORT}/blob.bin"
    starts = start_times(n, cfg["scenario"], cfg.get("spread", 0))
    homes = [os.path.join(work, f"peer{i}") for i in range(n)]
    outs = [os.path.join(work, f"out{i}.bin") for i in range(n)]

    def launch(i):
        os.makedirs(homes[i], exist_ok=True)
        return peers[i].popen(
            [*_dfget_argv(os.path.join(bin_dir, "dfget"), url, outs[i], sn, homes[i], peers[i]), "--notbs"],
            os.path.join(work, f"dfget{i}.log"),
            env=env,
        )

    cpu = CpuMeter().start()
    sampler = UplinkSampler(lab).start(time.time())
    t0, procs, real = _launch_staggered(starts, launch)
    cap = cfg.get("cap") or (8 * result["bounds"]["T_fluid"] + 60 + max(starts))
    ends = _wait_peers(procs, real, cap)
    result["cpu"] = cpu.stop()
    result["peers"] = [_peer_result(procs[i], peers[i], real[i], t0, ends[i], outs[i]) for i in range(n)]
    ok_ends = [e for e, x in zip(ends, result["peers"], strict=True) if e and x["exit"] == 0]
    result["makespan"] = round(max(ok_ends) - t0, 3) if len(ok_ends) == n else None
    result["failures"] = n - len(ok_ends)
    sampler.stop()
    result["upload_utilisation"] = _utilisation(sampler, cfg, peers, t0, result["makespan"])


def _peer_result(proc, host, started: float, t0: float, ended, output: "str | None") -> dict:
    """One peer's record: when it started and ended, its exit, its output's sha256, CPU and RSS
    (the process is stopped first if it is still running at the cap)."""
    if proc.poll() is None:
        proc.stop()
    return {
        "ip": host.ip,
        "start": round(started - t0, 3),
        "exit": proc.popen.returncode,
        "time": round(ended - started, 3) if ended else None,
        "sha256": sha256_of(output) if output else None,
        "cpu_s": round(proc.cpu_seconds(), 3),
        "peak_rss": proc.peak_rss(),
    }


def _utilisation(sampler: UplinkSampler, cfg, peers, t0: float, makespan) -> dict:
    """Upload utilisation of the supernode and every peer while the crowd ran (the sampler's clock
    started just before t0)."""
    rates = {"sn": cfg["u_sn"] or 0}
    rates.update(
        {f"peer{i}": up for i, (up, _) in enumerate(peer_rates(cfg["n"], cfg["u"], cfg["d"], cfg["scenario"]))}
    )
    rates = {h: r for h, r in rates.items() if r}
    shift = t0 - sampler.t0
    util = sampler.utilisation(rates, None if makespan is None else makespan + shift)
    peer_means = [v for h, v in util["mean_pct"].items() if h != "sn" and v is not None]
    util["peers_mean_pct"] = round(sum(peer_means) / len(peer_means), 1) if peer_means else None
    util["sn_mean_pct"] = util["mean_pct"].get("sn")
    downs = {f"peer{i}": down for i, (_, down) in enumerate(peer_rates(cfg["n"], cfg["u"], cfg["d"], cfg["scenario"]))}
    down = sampler.utilisation(downs, None if makespan is None else makespan + shift, key="received")
    means = [v for v in down["mean_pct"].values() if v is not None]
    util["peers_download_mean_pct"] = round(sum(means) / len(means), 1) if means else None
    util["download_series_pct"] = down["series_pct"]
    return util


def _run_curl(lab, cfg, work, origin, peers, result, env):
    n, size = cfg["n"], cfg["size"]
    url = f"http://{origin.ip}:{ORIGIN_PORT}/blob.bin"
    starts = start_times(n, cfg["scenario"], cfg.get("spread", 0))
    outs = [os.path.join(work, f"out{i}.bin") for i in range(n)]

    def launch(i):
        return peers[i].popen(["curl", "-s", "-f", "-o", outs[i], url], os.path.join(work, f"curl{i}.log"), env=env)

    cpu = CpuMeter().start()
    t0, procs, real = _launch_staggered(starts, launch)
    cap = cfg.get("curl_cap") or (1.3 * result["bounds"]["T_client_server"] + 30)
    ends = _wait_peers(procs, real, cap)
    elapsed = time.time() - t0
    result["cpu"] = cpu.stop()
    got = [os.path.getsize(o) if os.path.exists(o) else 0 for o in outs]
    result["peers"] = [
        dict(_peer_result(procs[i], peers[i], real[i], t0, ends[i], outs[i] if ends[i] else None), bytes=got[i])
        for i in range(n)
    ]
    done = [e for e in ends if e]
    if len(done) == n:
        result["makespan"] = round(max(done) - t0, 3)
        result["extrapolated"] = False
    else:
        # capped: every curl shares the origin's upload fairly, so the run ends when N*F bytes have
        # gone at the aggregate rate measured so far
        result["extrapolated"] = True
        rate = sum(got) / max(elapsed, 1e-6)
        result["makespan"] = round(n * size / rate, 3) if rate > 0 else None
        result["measured_for_s"] = round(elapsed, 2)
        result["measured_aggregate_MBps"] = round(rate / 1e6, 3)
    result["failures"] = n - len(done)


def _bdecode(data: bytes, i=0):
    c = data[i : i + 1]
    if c == b"i":
        j = data.index(b"e", i)
        return int(data[i + 1 : j]), j + 1
    if c in (b"l", b"d"):
        i += 1
        items = []
        while data[i : i + 1] != b"e":
            v, i = _bdecode(data, i)
            items.append(v)
        if c == b"l":
            return items, i + 1
        return dict(zip(items[::2], items[1::2], strict=False)), i + 1
    j = data.index(b":", i)
    ln = int(data[i:j])
    return data[j + 1 : j + 1 + ln], j + 1 + ln


def info_hash(torrent: bytes) -> str:
    """sha1 of the bencoded `info` value, cut from the torrent bytes as they are."""
    assert torrent[:1] == b"d"
    i = 1
    while torrent[i : i + 1] != b"e":
        key, i = _bdecode(torrent, i)
        start = i
        _, i = _bdecode(torrent, i)
        if key == b"info":
            return hashlib.sha1(torrent[start:i]).hexdigest()
    raise ValueError("no info dict")


def _run_aria2(lab, cfg, work, origin, tracker, peers, src, result, env):
    n = cfg["n"]
    tdir = os.path.join(work, "tracker")
    os.makedirs(tdir, exist_ok=True)
    torrent = os.path.join(work, "blob.torrent")
    announce = f"http://{tracker.ip}:{TRACKER_PORT}/announce"
    plen = cfg.get("bt_piece_log2", 18)
    subprocess.run(
        ["mktorrent", "-l", str(plen), "-a", announce, "-o", torrent, src],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=120,
    )
    ih = info_hash(pathlib.Path(torrent).read_bytes())
    with open(os.path.join(tdir, "whitelist.txt"), "w") as f:
        f.write(ih + "\n")
    for d in (work, tdir):
        os.chmod(d, 0o755)  # opentracker drops to `nobody` and chroots into tdir
    tr = tracker.popen(
        [
            "opentracker",
            "-i",
            tracker.ip,
            "-p",
            str(TRACKER_PORT),
            "-P",
            str(TRACKER_PORT),
            "-d",
            tdir,
            "-w",
            "whitelist.txt",
        ],
        os.path.join(work, "tracker.log"),
        env=env,
        cwd=tdir,
    )
    wait_for(
        lambda: (
            f"{tracker.ip}:{TRACKER_PORT}" in tracker.run(["ss", "-ltn"], check=False).stdout or tr.poll() is not None
        ),
        15,
        "opentracker",
    )
    if tr.poll() is not None:
        raise LabError("opentracker exited: " + tr.output())
    origin_dir = os.path.dirname(src)
    seed = origin.popen(
        ["aria2c", *ARIA_FLAGS, "-V", "--bt-seed-unverified=true", "--listen-port=6881", "-d", origin_dir, torrent],
        os.path.join(work, "seed.log"),
        env=env,
    )

    def seed_announced():  # the seed has talked to the tracker and listens for peers
        return seed.poll() is not None or (
            "6881" in origin.run(["ss", "-ltn"], check=False).stdout
            and f"{tracker.ip}:{TRACKER_PORT}" in origin.run(["ss", "-tn", "state", "all"], check=False).stdout
        )

    wait_for(seed_announced, 30, "the seed to announce")
    if seed.poll() is not None:
        raise LabError("the seed exited: " + seed.output())
    time.sleep(0.5)
    hook = os.path.join(work, "hook.sh")
    marks = os.path.join(work, "done.txt")
    with open(hook, "w") as f:
        f.write(f'#!/bin/sh\necho "$(date +%s.%N) $3" >> {marks}\n')
    os.chmod(hook, 0o755)
    starts = start_times(n, cfg["scenario"], cfg.get("spread", 0))
    dirs = [os.path.join(work, f"bt{i}") for i in range(n)]
    for d in dirs:
        os.makedirs(d, exist_ok=True)

    def launch(i):
        return peers[i].popen(
            ["aria2c", *ARIA_FLAGS, "--listen-port=6881", "-d", dirs[i], f"--on-bt-download-complete={hook}", torrent],
            os.path.join(work, f"aria{i}.log"),
            env=env,
        )

    cpu = CpuMeter().start()
    t0, procs, real = _launch_staggered(starts, launch)
    cap = cfg.get("cap") or (6 * result["bounds"]["T_fluid_bt"] + 60 + max(starts))
    name = os.path.basename(src)

    def ends_now():
        e = {}
        if os.path.exists(marks):
            for line in pathlib.Path(marks).read_text().splitlines():
                parts = line.split(None, 1)
                if len(parts) == 2:
                    for i, d in enumerate(dirs):
                        if parts[1].strip().startswith(d + "/"):
                            e[i] = float(parts[0])
        return e

    deadline = time.monotonic() + cap
    ends = {}
    while time.monotonic() < deadline:
        ends = ends_now()
        if len(ends) >= n or all(p.poll() is not None for p in procs):
            break
        time.sleep(0.05)
    result["cpu"] = cpu.stop()
    result["peers"] = []
    cpu_by_pid = {p: proc_cpu(p) for h in peers for p in _ns_pids(h.ns)}
    for i in range(n):
        e = ends.get(i)
        out = os.path.join(dirs[i], name)
        result["peers"].append(
            {
                "ip": peers[i].ip,
                "start": round(real[i] - t0, 3),
                "time": round(e - real[i], 3) if e else None,
                "sha256": sha256_of(out) if e else None,
                "cpu_s": round(cpu_by_pid.get(procs[i].pid, 0.0), 3),
                "peak_rss": proc_hwm(procs[i].pid),
            }
        )
    result["makespan"] = round(max(ends.values()) - t0, 3) if len(ends) == n else None
    result["failures"] = n - len(ends)
    result["info_hash"] = ih
    result["bt_piece_size"] = 1 << plen
