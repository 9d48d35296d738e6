"""Shared helpers of the benchmark scripts: results files, /proc readings, CPU pinning, py-spy."""

import datetime
import json
import os
import platform
import shutil
import subprocess
import time

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def write_result(name: str, result: dict) -> str:
    os.makedirs(RESULTS_DIR, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = os.path.join(RESULTS_DIR, f"{name}-{stamp}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    return path


def children(pid: int) -> "list[int]":
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except FileNotFoundError:
        pass
    return out


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_busy_seconds(cpu: int) -> float:
    """Busy time of one CPU from /proc/stat (everything but idle and iowait)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:]]
                return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK
    return 0.0


def pin(pid: int, cpu: int) -> bool:
    """Pin every thread of `pid` to one CPU (what `taskset -a -p` does); False if not possible."""
    if (os.cpu_count() or 1) <= cpu:
        return False
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(tid), {cpu})
        return True
    except OSError:
        return False


def percentile(sorted_values, q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, int(round(q / 100.0 * (len(sorted_values) - 1)))))
    return sorted_values[k]


def latency_summary(values_s) -> dict:
    v = sorted(values_s)
    return {
        "n": len(v),
        "p50_ms": round(percentile(v, 50) * 1e3, 3),
        "p90_ms": round(percentile(v, 90) * 1e3, 3),
        "p99_ms": round(percentile(v, 99) * 1e3, 3),
        "max_ms": round(v[-1] * 1e3, 3) if v else None,
    }


def py_spy(pid: int, out_base: str, seconds: int, *, native: bool = False) -> "subprocess.Popen | None":
    """Start `py-spy record` on `pid` for `seconds` (raw collapsed stacks + an SVG); None if absent."""
    exe = shutil.which("py-spy")
    if exe is None:
        return None
    argv = [
        exe,
        "record",
        "-p",
        str(pid),
        "-d",
        str(seconds),
        "-r",
        "200",
        "--nonblocking",
        "--function",
        "-f",
        "raw",
        "-o",
        out_base + ".txt",
    ]
    if native:
        argv.append("--native")
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def top_frames(collapsed_path: str, n: int = 15) -> "dict[str, list]":
    """From py-spy's collapsed stacks: the n frames with most self time and most total time (%)."""
    self_t, total_t, all_n = {}, {}, 0
    try:
        with open(collapsed_path) as f:
            for line in f:
                stack, _, count = line.rstrip("\n").rpartition(" ")
                if not count.isdigit():
                    continue
                c = int(count)
                all_n += c
                frames = stack.split(";")
                self_t[frames[-1]] = self_t.get(frames[-1], 0) + c
                for fr in set(frames):
                    total_t[fr] = total_t.get(fr, 0) + c
    except FileNotFoundError:
        return {}
    if not all_n:
        return {}

    def top(table):
        return [[round(100.0 * c / all_n, 1), fr] for fr, c in sorted(table.items(), key=lambda kv: -kv[1])[:n]]

    return {"samples": all_n, "self": top(self_t), "total": top(total_t)}


def wait_proc(proc: "subprocess.Popen | None", timeout: float) -> None:
    if proc is None:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
