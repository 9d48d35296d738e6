"""The lab benchmark: dfget vs N x curl vs a BitTorrent swarm vs the bounds, in network namespaces.

    python -m tests.bench.lab.run --quick        # < 5 minutes: 16 MiB, 20 Mbit/s, N in {2, 8}
    python -m tests.bench.lab.run --full         # the grid: 64 MiB, 10 Mbit/s, N up to 32 (~35 min)
    python -m tests.bench.lab.run --crowd        # flash crowd side by side: dfget, the v1 Go trio,
                                                 # aria2, one curl; N = 8, 16, 32; 16 and 32 MiB

Needs root, `ip netns`, aria2 + opentracker + mktorrent (apt-get install -y aria2 opentracker
mktorrent) and matplotlib (pip install matplotlib). Writes tests/bench/results/lab-<grid>-<stamp>.json
(+ .png, + a markdown table .md). Every lab is torn down after each run, even on failure.
"""

import argparse
import json
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

from tests.bench._common import RESULTS_DIR, machine
from tests.bench.lab.netlab import LabError, available
from tests.bench.lab.scenarios import MiB, run

UNSHAPED = 0


def calibrate(size, work, ns=(1, 4)) -> dict:
    """Unshaped: how fast does the whole dfget stack (origin -> CDN -> dfget -> upload server ->
    dfget) move bytes on this machine, for one peer and for several together?"""
    out = {}
    for n in ns:
        cfg = dict(
            n=n,
            size=size,
            u=UNSHAPED,
            d=UNSHAPED,
            u_origin=UNSHAPED,
            u_sn=UNSHAPED,
            scenario="flash",
            seed=7,
            spread=0,
            timelines=False,
        )
        r = run("dfget", cfg, os.path.join(work, f"cal-{n}"))
        ms = r["makespan"]
        out[f"N={n}"] = {
            "makespan_s": ms,
            "aggregate_MBps": round(n * size / ms / 1e6, 2) if ms else None,
            "aggregate_Mbitps": round(n * size * 8 / ms / 1e6, 1) if ms else None,
            "cpu": r["cpu"],
            "all_identical": r["all_identical"],
        }
    return out


def pick_rate(kind: str, cal: "dict | None") -> "tuple[int, str]":
    """The peers' rate u (Mbit/s): the grid's default, lowered so that N_max * u stays at or below half
    of the calibrated unshaped aggregate throughput (method.md: measure the protocol, not the CPU)."""
    u, n_max = (20, 8) if kind == "quick" else (10, 32)
    aggs = [v["aggregate_Mbitps"] for v in (cal or {}).values() if v.get("aggregate_Mbitps")]
    if not aggs:
        return u, "no calibration: default rate"
    half = max(aggs) / 2
    if n_max * u <= half:
        return u, f"N_max*u = {n_max * u} <= half of calibrated {max(aggs):.0f} Mbit/s"
    lowered = max(1, int(half // n_max))
    return lowered, (
        f"lowered from {u}: N_max*u must be <= half of calibrated {max(aggs):.0f} Mbit/s -> u = {lowered} Mbit/s"
    )


TUNED_FANOUT = 2  # --supernode-task-upload-limit of the "tuned" dfget runs (see BENCHMARKS.md, Lab)


def uplink_flags(mbit: int) -> "list[str]":
    """Supernode flags stating its shaped uplink (bytes/s), nothing reserved."""
    return ["--max-bandwidth", str(mbit * 125_000), "--system-bandwidth", "0"]


def grid(kind: str, u: int, fanout: int = TUNED_FANOUT):
    """(name, system, cfg) triples. Servers (origin, supernode) at the peers' rate unless noted.
    dfget runs twice where it matters: as shipped ("-default") and with the supernode's per-task
    fan-out lowered to `fanout` (the default of 32 concurrent pieces overruns a supernode whose
    uplink is the peers' rate: pieces time out and peers give up; see BENCHMARKS.md)."""
    if kind == "crowd":
        return crowd_grid(u)
    if kind == "quick":
        size, ns, sc_n, mixed_n = 16 * MiB, (2, 8), 8, 8
        curl_cap, default_ns = 20, (8,)
    else:
        size, ns, sc_n, mixed_n = 64 * MiB, (1, 2, 4, 8, 16, 32), 32, 16
        curl_cap, default_ns = 60, (8, 32)
    # The supernode is told its real uplink, as an operator would (its fan-out follows it).
    base = dict(size=size, u=u, d=u, u_origin=u, u_sn=u, scenario="flash", seed=42, spread=0, sn_extra=uplink_flags(u))
    tuned = dict(base, sn_extra=uplink_flags(u) + ["--supernode-task-upload-limit", str(fanout)])
    t_file = size * 8 / 1e6 / u
    runs = []
    for n in ns:
        runs.append((f"flash-N{n}", "dfget", dict(tuned, n=n)))
    for n in default_ns:
        runs.append((f"flash-N{n}-default", "dfget", dict(base, n=n)))
    for n in ns:
        runs.append((f"flash-N{n}", "aria2", dict(base, n=n)))
    for n in ns:
        runs.append((f"flash-N{n}", "curl", dict(base, n=n, curl_cap=curl_cap)))
    runs.append((f"staggered-N{sc_n}", "dfget", dict(tuned, n=sc_n, scenario="staggered", spread=t_file)))
    runs.append((f"staggered-N{sc_n}", "aria2", dict(base, n=sc_n, scenario="staggered", spread=t_file)))
    runs.append((f"mixed-N{mixed_n}", "dfget", dict(tuned, n=mixed_n, scenario="mixed")))
    if kind == "full":
        # v1's published setup: servers at 10x the clients' rate (fan-out as shipped)
        runs.append(
            (
                f"flash-N{sc_n}-servers10x-default",
                "dfget",
                dict(base, n=sc_n, u_origin=10 * u, u_sn=10 * u, sn_extra=uplink_flags(10 * u)),
            )
        )
    return runs


def crowd_grid(u: int):
    """Issue 10's comparison, everything as shipped: per file size one curl (the unit), then for each
    N our dfget + supernode, the real v1 Go trio and a BitTorrent swarm; staggered and mixed runs."""
    base = dict(u=u, d=u, u_origin=u, u_sn=u, scenario="flash", seed=42, spread=0, sn_extra=uplink_flags(u))
    runs = []
    for size in (16 * MiB, 32 * MiB):
        tag = f"{size // MiB}M"
        runs.append((f"one-curl-{tag}", "curl", dict(base, n=1, size=size)))
        for n in (8, 16, 32):
            for system in ("dfget", "v1", "aria2"):
                runs.append((f"flash-{tag}-N{n}", system, dict(base, n=n, size=size)))
            if n == 8:  # v1's Go dfget against our supernode: is our client as good as v1's?
                runs.append((f"flash-{tag}-N{n}", "v1-client", dict(base, n=n, size=size)))
    t_file = 16 * MiB * 8 / 1e6 / u
    runs.append(("staggered-16M-N8", "dfget", dict(base, n=8, size=16 * MiB, scenario="staggered", spread=t_file)))
    runs.append(("mixed-16M-N8", "dfget", dict(base, n=8, size=16 * MiB, scenario="mixed")))
    return runs


def one_curl(results) -> "dict[int, float]":
    """size -> the makespan of one curl of it (the unit the issue's targets are stated in)."""
    return {
        r["file_size"]: r["makespan"]
        for r in results
        if r.get("system") == "curl" and r.get("config", {}).get("n") == 1 and r.get("makespan")
    }


def brief(r: dict) -> dict:
    keys = (
        "system",
        "makespan",
        "completion",
        "bounds",
        "makespan_over_T_fluid",
        "makespan_over_T_pieces",
        "p50_over_T_fluid",
        "p99_over_T_fluid",
        "origin_egress_over_F",
        "origin_body_bytes_over_F",
        "supernode_share",
        "p2p_share",
        "supernode_egress_over_F",
        "worst_time_over_own_F_d",
        "peer_upload_bytes_over_NF",
        "all_identical",
        "failures",
        "cpu",
        "cpu_seconds_lab_processes",
        "peak_rss_max",
        "extrapolated",
    )
    return {k: r.get(k) for k in keys}


def table(results) -> str:
    unit = one_curl(results)
    rows = [
        "| run | system | N | makespan s | ÷ one curl | p50 / p90 / p99 s | ÷T_fluid (makespan, p99) "
        "| ÷T_pieces | origin egress ÷F | supernode egress ÷F | supernode / P2P share "
        "| CPU util % (load before) | CPU s | sha256 ok |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['name']} | {r['system']} | {r['config']['n']} | error: {r['error'][:60]} |" + " |" * 10)
            continue
        c, b = r["completion"], r["bounds"]
        ms = r["makespan"]
        if ms is None or r.get("extrapolated"):
            c = {"p50": None, "p90": None, "p99": None}
        if ms is None and r.get("failures"):
            ms_s = f"FAILED {r['failures']}/{r['config']['n']}"
        else:
            ms_s = "—" if ms is None else (f"~{ms:.1f} (extrap.)" if r.get("extrapolated") else f"{ms:.1f}")
        p = "—" if c["p50"] is None else f"{c['p50']:.1f} / {c['p90']:.1f} / {c['p99']:.1f}"
        tf = (
            "—"
            if ms is None
            else f"{ms / b['T_fluid']:.2f}, " + (f"{c['p99'] / b['T_fluid']:.2f}" if c["p99"] is not None else "—")
        )
        tp = "—" if ms is None else f"{ms / b['T_pieces']:.2f}"
        share = "—" if r.get("supernode_share") is None else f"{r['supernode_share']:.2f} / {r['p2p_share']:.2f}"
        cpu = r.get("cpu", {})
        per_curl = "—" if ms is None or not unit.get(r["file_size"]) else f"{ms / unit[r['file_size']]:.2f}"
        sn_out = "—" if r.get("supernode_egress_over_F") is None else f"{r['supernode_egress_over_F']:.2f}"
        rows.append(
            f"| {r['name']} | {r['system']} | {r['config']['n']} | {ms_s} | {per_curl} | {p} | {tf} | {tp} | "
            f"{r['origin_egress_over_F']:.2f} | {sn_out} | {share} | {cpu.get('cpu_util_pct')} "
            f"({cpu.get('loadavg_before', [0])[0]:.2f}) | {r.get('cpu_seconds_lab_processes')} | "
            f"{'n/a (capped)' if r.get('extrapolated') else ('yes' if r.get('all_identical') else 'NO')} |"
        )
    return "\n".join(rows)


def diag_table(results) -> str:
    """Where dfget's time goes: supernode upload (veth) vs F, copies of each piece the supernode sent,
    time to the first piece, per-process CPU."""
    rows = [
        "| run | system | N | supernode sent ÷F (veth) | supernode copies per piece (mean / piece 0) | "
        "time to first piece p50 / max s | /peer/task calls per piece | peers' upload ÷(N·F) | "
        "uplink used: supernode / peers (mean %) | lab CPU s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.get("system") not in ("dfget", "v1", "v1-client") or "error" in r:
            continue
        size = r["file_size"]
        sn = r.get("ports", {}).get("sn", {}).get("sent", 0) / size
        cp = r.get("supernode_copies_per_piece") or {}
        tf = r.get("time_to_first_piece") or {}
        util = r.get("upload_utilisation") or {}
        rows.append(
            f"| {r['name']} | {r['system']} | {r['config']['n']} | {sn:.2f} | {cp.get('mean')} / {cp.get('piece0')} | "
            f"{tf.get('p50')} / {tf.get('max')} | {r.get('peer_task_calls_per_piece')} | "
            f"{r.get('peer_upload_bytes_over_NF')} | {util.get('sn_mean_pct')} / {util.get('peers_mean_pct')} | "
            f"{r.get('cpu_seconds_lab_processes')} | "
            f"{r.get('peak_rss_max', 0) / 1e6:.0f} |"
        )
    return "\n".join(rows)


def plot(results, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {
        "dfget": ("o-", "dfget + our supernode (makespan)"),
        "aria2": ("s-", "BitTorrent swarm (aria2)"),
        "curl": ("^-", "N × curl"),
        "v1": ("d-", "Dragonfly v1.0.6 Go trio"),
    }
    flash = [
        r
        for r in results
        if r["name"].startswith("flash-")
        and "servers" not in r["name"]
        and "default" not in r["name"]
        and "error" not in r
        and r.get("makespan")
    ]
    if flash:  # several file sizes (the crowd grid): plot the largest
        largest = max(r["file_size"] for r in flash)
        flash = [r for r in flash if r["file_size"] == largest]
    dflt = [
        r
        for r in results
        if r["name"].startswith("flash-N")
        and r["name"].endswith("-default")
        and "servers" not in r["name"]
        and "error" not in r
    ]
    for r in dflt:
        if r.get("makespan"):
            ax.plot([r["config"]["n"]], [r["makespan"]], "rx", ms=9)
        else:
            ax.annotate(
                f"dfget as shipped: {r.get('failures')}/{r['config']['n']} failed",
                (r["config"]["n"], 0.12),
                xycoords=("data", "axes fraction"),
                xytext=(0, -14),
                textcoords="offset points",
                fontsize=7,
                color="red",
                ha="right",
            )
    if any(r.get("makespan") for r in dflt):
        ax.plot([], [], "rx", label="dfget as shipped (fan-out 32)")
    for system, (style, label) in styles.items():
        pts = sorted((r["config"]["n"], r["makespan"], r.get("extrapolated")) for r in flash if r["system"] == system)
        if not pts:
            continue
        (line,) = ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label)
        ex = [p for p in pts if p[2]]
        if ex:
            ax.plot(
                [p[0] for p in ex],
                [p[1] for p in ex],
                "^",
                mfc="white",
                color=line.get_color(),
                label="N × curl, extrapolated from the measured rate",
            )
        if system == "dfget":
            p99 = sorted((r["config"]["n"], r["completion"]["p50"]) for r in flash if r["system"] == "dfget")
            ax.plot(
                [p[0] for p in p99], [p[1] for p in p99], "o:", color=line.get_color(), alpha=0.6, label="dfget p50"
            )
    bd = sorted(
        {(r["config"]["n"], r["bounds"]["T_fluid"], r["bounds"]["T_pieces"]) for r in flash if r["system"] == "dfget"}
    )
    if bd:
        ax.plot([p[0] for p in bd], [p[1] for p in bd], "k--", label="T_fluid")
        ax.plot([p[0] for p in bd], [p[2] for p in bd], "k:", label="T_pieces")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("N peers (flash crowd)")
    ax.set_ylabel("completion time, s")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(doc, kind):
    os.makedirs(RESULTS_DIR, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = os.path.join(RESULTS_DIR, f"lab-{kind}-{stamp}")
    with open(base + ".json", "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
    md = table(doc["runs"]) + "\n\n" + diag_table(doc["runs"])
    with open(base + ".md", "w") as f:
        f.write(md + "\n")
    try:
        sized = [r for r in doc["runs"] if "config" in r and r["name"].startswith("flash-")]
        first = max(sized, key=lambda r: r["config"].get("size", 0))["config"] if sized else {}
        plot(
            doc["runs"],
            base + ".png",
            f"lab {kind}: F={first.get('size', 0) // MiB} MiB, u=d={first.get('u')} Mbit/s, "
            f"origin & supernode at peer rate, {os.cpu_count()} cores",
        )
    except Exception as e:  # noqa: BLE001 - the JSON is the result; the plot is a courtesy
        print("plot failed:", e, file=sys.stderr)
    print(md)
    return base


def merge(paths, kind):
    doc = {"machine": machine(), "grid": kind, "merged_from": paths, "runs": []}
    by_key = {}
    for p in paths:
        d = json.loads(pathlib.Path(p).read_text())
        for key in ("calibration", "rate_mbit", "rate_reason"):
            if key in d and key not in doc:
                doc[key] = d[key]
        for r in d.get("runs", []):
            by_key[(r["name"], r["system"])] = dict(r, source_file=os.path.basename(p))
    doc["runs"] = list(by_key.values())
    order = {"dfget": 0, "v1-client": 1, "v1": 2, "aria2": 3, "curl": 4}
    doc["runs"].sort(key=lambda r: (r["name"].split("-")[0], order.get(r["system"], 9), r["config"]["n"], r["name"]))
    base = write_outputs(doc, kind + "-merged")
    print(f"results: {base}.json  plot: {base}.png")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser()
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--quick", action="store_true")
    g.add_argument("--full", action="store_true")
    g.add_argument("--crowd", action="store_true")
    ap.add_argument("--only", default="", help="comma list of run names / systems to keep (e.g. dfget,flash-N32)")
    ap.add_argument("--repeat", type=int, default=1, help="repeat each run (median reported)")
    ap.add_argument(
        "--keep",
        action="store_true",
        help="keep the work directory (logs, piece timelines, py-spy files; outputs are deleted)",
    )
    ap.add_argument("--profile", action="store_true", help="py-spy the supernode worker and dfget #0 (dfget runs)")
    ap.add_argument("--no-calibrate", action="store_true")
    ap.add_argument(
        "--merge",
        nargs="+",
        metavar="JSON",
        help="combine result files (later runs replace earlier ones of the same name/system)",
    )
    ap.add_argument("--rate", type=int, default=0, help="peer rate u in Mbit/s (default: from calibration)")
    args = ap.parse_args(argv)
    ok, why = available()
    if not ok:
        print(f"lab benchmark not run: {why}", file=sys.stderr)
        return 2
    for tool in ("aria2c", "opentracker", "mktorrent", "curl"):
        if not shutil.which(tool):
            print(f"missing {tool}: apt-get install -y aria2 opentracker mktorrent curl", file=sys.stderr)
            return 2
    kind = "quick" if args.quick else ("crowd" if args.crowd else "full")
    if args.merge:
        return merge(args.merge, kind)
    work = tempfile.mkdtemp(prefix=f"dflab-{kind}-")
    os.chmod(work, 0o755)
    t_start = time.time()
    doc = {"machine": machine(), "grid": kind, "work_dir": work, "runs": []}
    try:
        if not args.no_calibrate:
            doc["calibration"] = calibrate(
                32 * MiB if kind == "quick" else 64 * MiB, work, (1, 4) if kind == "quick" else (1, 4, 8)
            )
            print("calibration:", json.dumps(doc["calibration"]), flush=True)
        only = [x for x in args.only.split(",") if x]
        if args.rate:
            u, why = args.rate, "given on the command line"
        else:
            u, why = pick_rate(kind, doc.get("calibration"))
        doc["rate_mbit"], doc["rate_reason"] = u, why
        print(f"peer rate u = {u} Mbit/s ({why})", flush=True)
        runs = grid(kind, u)
        if only:  # in the order given
            runs = [g for o in only for g in runs if o in (g[0], g[1], f"{g[0]}:{g[1]}")]
        for name, system, cfg in runs:
            if args.profile and system == "dfget":
                cfg = dict(cfg, profile=True)
            reps = []
            for rep in range(max(1, args.repeat)):
                wdir = os.path.join(work, f"{name}-{system}-{rep}")
                t = time.time()
                try:
                    r = run(system, cfg, wdir)
                except (LabError, OSError, RuntimeError) as e:
                    r = {"system": system, "config": cfg, "error": repr(e)}
                r["name"], r["wall_s"] = name, round(time.time() - t, 1)
                reps.append(r)
                print(
                    f"[{time.time() - t_start:6.0f}s] {name} {system} rep{rep}:",
                    json.dumps(
                        {k: v for k, v in brief(r).items() if k not in ("bounds",)} if "error" not in r else r["error"]
                    ),
                    flush=True,
                )
                # outputs are hashed already: drop them (a full grid would leave ~13 GB); logs stay
                for f in os.listdir(wdir) if os.path.isdir(wdir) else []:
                    if f.endswith(".bin") or f in ("origin", "sn-home") or f.startswith("bt"):
                        p = os.path.join(wdir, f, "repo") if f == "sn-home" else os.path.join(wdir, f)
                        shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else os.remove(p)
            good = [r for r in reps if r.get("makespan") is not None]
            chosen = sorted(good, key=lambda r: r["makespan"])[len(good) // 2] if good else reps[0]
            if len(good) > 1:
                chosen["repeats"] = {
                    "makespans": [r["makespan"] for r in good],
                    "median": statistics.median(r["makespan"] for r in good),
                }
            doc["runs"].append(chosen)
    finally:
        doc["duration_s"] = round(time.time() - t_start, 1)
        base = write_outputs(doc, kind)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        print(f"results: {base}.json  plot: {base}.png  ({doc['duration_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
