"""What dfget's default --locallimit costs one download on a fast link, as ratios against curl.

    python -m tests.bench.locallimit_default [--size 128M] [--reps 3]

One origin, one supernode (gunicorn, one gevent worker), one client, all on 127.0.0.1, unshaped.
The file is fetched once by dfget first (the CDN file is then complete), then each repetition
times, in this order: curl, dfget with no rate flag (the default), dfget `-s 20M` (v1's default),
curl. Every dfget runs `--pattern cdn` (no upload server, never a holder) with a fresh home, so every
piece comes from the supernode and no run leaves a peer behind that a later run would try. Ratio = curl's mean
throughput of the repetition / dfget's (how many times
slower). Every output is checked against the source's sha256 outside the timed section.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile

from tests.bench import _common as bc
from tests.bench.dfget_loopback import Runner, make_file, parse_size
from tests.support.procs import start_origin, start_supernode


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="128M")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    size = parse_size(args.size)
    work = tempfile.mkdtemp(prefix="bench-locallimit-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None)
    result = {"benchmark": "locallimit_default", "machine": bc.machine(), "args": vars(args), "size": size}
    origin = supernode = None
    try:
        root = os.path.join(work, "origin")
        os.makedirs(root)
        sha = make_file(os.path.join(root, "big.bin"), size)
        origin, oport = start_origin(root, os.path.join(work, "origin.log"))
        supernode, api, _dl = start_supernode(os.path.join(work, "sn"), os.path.join(work, "sn.log"))
        run = Runner(work, api, bc.children(supernode.pid)[0])
        url = f"http://127.0.0.1:{oport}/big.bin"
        cdn = ("-p", "cdn")
        result["warm_up"] = run.dfget(url, size, sha, rate_flags=cdn)  # builds the CDN file (not timed)
        rows = []
        for rep in range(args.reps):
            row = {
                "curl_1": run.curl(url, size, sha),
                "default": run.dfget(url, size, sha, rate_flags=cdn),
                "v1_20M": run.dfget(url, size, sha, rate_flags=cdn + ("-s", "20M")),
                "curl_2": run.curl(url, size, sha),
            }
            curl = statistics.mean([row["curl_1"]["mb_per_s"], row["curl_2"]["mb_per_s"]])
            row["default_slower_x"] = round(curl / row["default"]["mb_per_s"], 2)
            row["v1_20M_slower_x"] = round(curl / row["v1_20M"]["mb_per_s"], 2)
            rows.append(row)
            print(
                f"[rep {rep}] curl {row['curl_1']['mb_per_s']}/{row['curl_2']['mb_per_s']} MB/s, "
                f"dfget default {row['default']['mb_per_s']} MB/s ({row['default_slower_x']}x slower), "
                f"-s 20M {row['v1_20M']['mb_per_s']} MB/s ({row['v1_20M_slower_x']}x slower)",
                file=sys.stderr,
            )
        result["rows"] = rows
        result["summary"] = {
            "curl_mb_per_s": statistics.median([r[k]["mb_per_s"] for r in rows for k in ("curl_1", "curl_2")]),
            "default_mb_per_s": statistics.median(r["default"]["mb_per_s"] for r in rows),
            "v1_20M_mb_per_s": statistics.median(r["v1_20M"]["mb_per_s"] for r in rows),
            "default_slower_x": statistics.median(r["default_slower_x"] for r in rows),
            "v1_20M_slower_x": statistics.median(r["v1_20M_slower_x"] for r in rows),
            "all_ok": all(r[k]["ok"] for r in rows for k in ("curl_1", "default", "v1_20M", "curl_2")),
        }
    finally:
        if supernode is not None:
            supernode.stop()
        if origin is not None:
            origin.stop()
        shutil.rmtree(work, ignore_errors=True)
    path = bc.write_result("locallimit_default", result)
    s = result["summary"]
    print(json.dumps(s, indent=2, sort_keys=True))
    print(f"raw: {path}")
    return 0 if s["all_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
