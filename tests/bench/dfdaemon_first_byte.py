"""First byte and whole GET of never-seen layers: dfdaemon in-process vs dfdaemon `--dfpath` vs the
registry, side by side in one run.

    python -m tests.bench.dfdaemon_first_byte [--layers 6] [--layer-size 32M]

One docker-registry, one supernode (gunicorn, one gevent worker), two dfdaemons on 127.0.0.1: the
default (downloads in-process) and one with `--dfpath` to our dfget (a process per blob). Each
round pushes a fresh 3-layer image (nothing cached in the CDN) and GETs one layer through each
path, rotating the order; the config blob of the image is fetched both ways too. Medians; ratios
against the registry in the same round.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile

from common.units import parse_size
from tests.bench import _common as bc
from tests.bench.dfdaemon_pull import build_image, first_byte
from tests.e2e.dfdaemon_support import images
from tests.e2e.dfdaemon_support.lab import Dfdaemon, start_registry
from tests.support.procs import start_supernode

PATHS = ("in-process", "dfpath", "direct")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=6, help="rounds (never-seen layers per path)")
    ap.add_argument("--layer-size", default="32M")
    args = ap.parse_args(argv)
    size = parse_size(args.layer_size)
    tmp = tempfile.mkdtemp(prefix="bench-dfd-fb-")
    stop = []
    got = {p: [] for p in PATHS}
    config = {p: [] for p in PATHS}
    try:
        reg_proc, registry = start_registry(tmp)
        stop.append(reg_proc)
        sn_proc, api, _ = start_supernode(os.path.join(tmp, "supernode"), os.path.join(tmp, "supernode.out"))
        stop.append(sn_proc)
        node = f"127.0.0.1:{api}"
        bases = {"direct": registry}
        for name, dfpath in (("in-process", None), ("dfpath", shutil.which("dfget"))):
            daemon = Dfdaemon(tmp, name, registry, node, config={"ratelimit": "1G", "directBelow": 0}, dfpath=dfpath)
            stop.append(daemon)
            bases[name] = daemon.url
        for i in range(args.layers):
            img = build_image(size, 3)
            images.push(registry, f"library/fb{i}", "1", img)
            order = PATHS[i % 3 :] + PATHS[: i % 3]
            for k, path in enumerate(order):
                got[path].append(first_byte(f"{bases[path]}/v2/library/fb{i}/blobs/{img.layer_digests[k]}"))
            for path in order:  # the same config blob: the CDN has it after the first path
                config[path].append(first_byte(f"{bases[path]}/v2/library/fb{i}/blobs/{img.config_digest}")[1])
    finally:
        for p in reversed(stop):
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    med = {
        p: {
            "ttfb_s": statistics.median(t for t, _ in got[p]),
            "whole_s": statistics.median(w for _, w in got[p]),
            "config_s": statistics.median(config[p]),
        }
        for p in PATHS
    }
    result = {
        "machine": bc.machine(),
        "layers": args.layers,
        "layer_size": size,
        "median": med,
        "rows": {p: got[p] for p in PATHS},
        "config_rows": config,
    }
    path = bc.write_result("dfdaemon_first_byte", result)
    for p in PATHS:
        m = med[p]
        print(
            f"{p:10s} first byte {m['ttfb_s'] * 1000:6.0f} ms  whole {m['whole_s'] * 1000:6.0f} ms  "
            f"config blob {m['config_s'] * 1000:5.0f} ms  "
            f"(first byte {m['ttfb_s'] / med['direct']['ttfb_s']:.0f}x direct)"
        )
    print(
        f"in-process / dfpath: first byte {med['in-process']['ttfb_s'] / med['dfpath']['ttfb_s']:.2f}, "
        f"whole {med['in-process']['whole_s'] / med['dfpath']['whole_s']:.2f}"
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
