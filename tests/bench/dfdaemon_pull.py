"""docker pull through dfdaemon vs straight from the registry, and a layer's time to first byte,
as ratios measured in one run.

    python -m tests.bench.dfdaemon_pull [--reps 3] [--layer-size 32M] [--ratelimit 20M] [--skopeo]
                                        [--small-layers 20] [--small-size 64K] [--dfpath PATH]
                                        [--supernode-bandwidth 4G] [--direct-below 0]

Components, all real, on 127.0.0.1: docker-registry (filesystem storage), one supernode
(gunicorn, one gevent worker), one dfdaemon (`--ratelimit` as given: 20M is v1's default for each
dfget), one dockerd (vfs) with `registry-mirrors: [dfdaemon]`.

Every repetition pushes fresh images (3 layers of random bytes, gzip level 1, so ~`--layer-size`
each) so nothing is cached anywhere (not in docker, not in the supernode's CDN):
  mirror   `docker pull bench-m<i>:1`            Hub-style name -> the mirror -> dfdaemon -> dfget
                                                 -> supernode CDN (cold: it back-sources while
                                                 dfget pulls pieces) -> streamed to docker
  direct   `docker pull 127.0.0.1:<reg>/library/bench-d<i>:1`  a registry name: mirrors are
                                                 bypassed, docker talks to the registry itself
  small    the same pair for an image of `--small-layers` layers of `--small-size` each (many small
           layers: the fixed cost per blob dominates)
The order alternates between repetitions; the images are removed after each repetition.
`--dfpath` runs dfdaemon with an external dfget per blob (v1's way) instead of its default.
Time to first byte: one GET of a never-requested layer through dfdaemon (the mirror path, so
preflight + dfget + supernode registration + CDN's first piece) vs one GET of another
never-requested layer of the same size from the registry; timed from sending the request to
reading the first body byte (Python http.client). Ratios are dfdaemon / direct; medians of the
repetitions. With --skopeo (or if dockerd cannot start) `skopeo copy ... dir:` replaces docker.
"""

import argparse
import gzip
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

from common.units import parse_size
from tests.bench import _common as bc
from tests.e2e.dfdaemon_support import images
from tests.e2e.dfdaemon_support.lab import Dfdaemon, Docker, start_registry
from tests.support.procs import start_supernode


def build_image(layer_size: int, n: int = 3) -> images.Image:
    """Like images.build_image, but gzip level 1 (random bytes do not compress; level 9 is slow)."""
    import io
    import tarfile

    layers, diff_ids = [], []
    for i in range(n):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            data = os.urandom(layer_size + i * 4096)
            info = tarfile.TarInfo(f"layer{i}/random.bin")
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
        tar_bytes = raw.getvalue()
        gz = gzip.compress(tar_bytes, compresslevel=1, mtime=0)
        layers.append((images.sha256(gz), gz))
        diff_ids.append(images.sha256(tar_bytes))
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/true"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": f"layer {i}"} for i in range(n)],
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": images.MANIFEST_V2,
            "config": {"mediaType": images.CONFIG_V1, "size": len(config), "digest": images.sha256(config)},
            "layers": [{"mediaType": images.LAYER_GZIP, "size": len(b), "digest": d} for d, b in layers],
        }
    ).encode()
    return images.Image(layers, diff_ids, config, manifest)


def first_byte(url: str) -> "tuple[float, float]":
    """(seconds to the first body byte, seconds to the whole body) of one GET."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    started = time.monotonic()
    try:
        conn.request("GET", u.path)
        r = conn.getresponse()
        assert r.status == 200, (url, r.status)
        assert r.read(1), url
        ttfb = time.monotonic() - started
        while r.read(1 << 20):
            pass
        return ttfb, time.monotonic() - started
    finally:
        conn.close()


def timed(fn, *args) -> float:
    started = time.monotonic()
    fn(*args)
    return time.monotonic() - started


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--layer-size", default="32M")
    ap.add_argument("--ratelimit", default="20M", help="dfdaemon --ratelimit (each dfget's limit); v1 default 20M")
    ap.add_argument("--skopeo", action="store_true", help="pull with skopeo instead of dockerd")
    ap.add_argument("--small-layers", type=int, default=20, help="layers of the many-small-layers image (0: skip)")
    ap.add_argument("--small-size", default="64K", help="size of each small layer")
    ap.add_argument("--dfpath", default="", help="external dfget for dfdaemon (default: dfdaemon's own choice)")
    ap.add_argument(
        "--direct-below", default="", help="dfdaemon's directBelow (default: its own, 1M; 0 = every blob via P2P)"
    )
    ap.add_argument(
        "--supernode-bandwidth",
        default="",
        help="the supernode's maxBandwidth (its default 200M caps a cold CDN at 180 MB/s)",
    )
    args = ap.parse_args(argv)
    size, small = parse_size(args.layer_size), parse_size(args.small_size)
    tmp = tempfile.mkdtemp(prefix="bench-dfdaemon-")
    stop = []
    rows = []
    try:
        reg_proc, registry = start_registry(tmp)
        stop.append(reg_proc)
        sn_env = {"SUPERNODE_MAX_BANDWIDTH": args.supernode_bandwidth} if args.supernode_bandwidth else None
        sn_proc, api, _ = start_supernode(
            os.path.join(tmp, "supernode"), os.path.join(tmp, "supernode.out"), env=sn_env
        )
        stop.append(sn_proc)
        dfd_config = {"ratelimit": args.ratelimit, **({"directBelow": args.direct_below} if args.direct_below else {})}
        daemon = Dfdaemon(tmp, "dfdaemon", registry, f"127.0.0.1:{api}", config=dfd_config, dfpath=args.dfpath or None)
        stop.append(daemon)
        reg_port = urlsplit(registry).port
        docker = None
        if not args.skopeo:
            try:
                docker = Docker(tmp, "docker", daemon.port)
                stop.append(docker)
            except Exception as e:  # noqa: BLE001
                print(f"*** dockerd cannot start ({e!s:.200}); using skopeo", file=sys.stderr)
        puller = "docker" if docker else "skopeo"

        def pull(ref: str) -> None:
            if docker:
                res = docker.cli("pull", ref, timeout=600)
                assert res.returncode == 0, res.stdout + res.stderr
                return
            out = tempfile.mkdtemp(dir=tmp)
            if ref.startswith("127.0.0.1:"):
                src = f"docker://{ref}"
            else:
                src = f"docker://127.0.0.1:{daemon.port}/library/{ref}"
            res = subprocess.run(
                ["skopeo", "copy", "--src-tls-verify=false", src, f"dir:{out}"],
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert res.returncode == 0, res.stdout + res.stderr
            shutil.rmtree(out, ignore_errors=True)

        for i in range(args.reps):
            m_img, d_img, t_img = build_image(size), build_image(size), build_image(size)
            images.push(registry, f"library/bench-m{i}", "1", m_img)
            images.push(registry, f"library/bench-d{i}", "1", d_img)
            images.push(registry, f"library/bench-t{i}", "1", t_img)
            mirror_ref, direct_ref = f"bench-m{i}:1", f"127.0.0.1:{reg_port}/library/bench-d{i}:1"
            if i % 2 == 0:
                t_mirror, t_direct = timed(pull, mirror_ref), timed(pull, direct_ref)
            else:
                t_direct, t_mirror = timed(pull, direct_ref), timed(pull, mirror_ref)
            refs = [mirror_ref, direct_ref]
            small_row = {}
            if args.small_layers:
                ms_img, ds_img = build_image(small, args.small_layers), build_image(small, args.small_layers)
                images.push(registry, f"library/bench-ms{i}", "1", ms_img)
                images.push(registry, f"library/bench-ds{i}", "1", ds_img)
                ms_ref, ds_ref = f"bench-ms{i}:1", f"127.0.0.1:{reg_port}/library/bench-ds{i}:1"
                if i % 2 == 0:
                    s_mirror, s_direct = timed(pull, ms_ref), timed(pull, ds_ref)
                else:
                    s_direct, s_mirror = timed(pull, ds_ref), timed(pull, ms_ref)
                small_row = {
                    "small_pull_mirror_s": s_mirror,
                    "small_pull_direct_s": s_direct,
                    "small_pull_ratio": s_mirror / s_direct,
                }
                refs += [ms_ref, ds_ref]
            if docker:
                for ref in refs:
                    docker.cli("rmi", ref, timeout=120)
            via_dfd = f"{daemon.url}/v2/library/bench-t{i}/blobs/{t_img.layer_digests[0]}"
            direct = f"{registry}/v2/library/bench-t{i}/blobs/{t_img.layer_digests[1]}"
            if i % 2 == 0:
                (fb_dfd, all_dfd), (fb_dir, all_dir) = first_byte(via_dfd), first_byte(direct)
            else:
                (fb_dir, all_dir), (fb_dfd, all_dfd) = first_byte(direct), first_byte(via_dfd)
            row = {
                "pull_mirror_s": t_mirror,
                "pull_direct_s": t_direct,
                "pull_ratio": t_mirror / t_direct,
                "ttfb_dfdaemon_s": fb_dfd,
                "ttfb_direct_s": fb_dir,
                "ttfb_ratio": fb_dfd / fb_dir,
                "layer_get_dfdaemon_s": all_dfd,
                "layer_get_direct_s": all_dir,
                **small_row,
            }
            rows.append(row)
            print(json.dumps({k: round(v, 4) for k, v in row.items()}), flush=True)
        fallbacks = daemon.metric("dragonfly_dfdaemon_fallbacks_total")
        via_dfget = daemon.metric('dragonfly_dfdaemon_layer_requests_total{via="dfget"}')
    finally:
        for p in reversed(stop):
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def med(k):
        return statistics.median(r[k] for r in rows)

    summary = {k: med(k) for k in rows[0]}
    result = {
        "machine": bc.machine(),
        "puller": puller,
        "layer_size": size,
        "layers": 3,
        "reps": args.reps,
        "ratelimit": args.ratelimit,
        "dfpath": args.dfpath,
        "supernode_bandwidth": args.supernode_bandwidth,
        "direct_below": args.direct_below,
        "small_layers": args.small_layers,
        "small_size": small,
        "rows": rows,
        "median": summary,
        "dfdaemon_fallbacks": fallbacks,
        "dfdaemon_layers_via_dfget": via_dfget,
    }
    path = bc.write_result("dfdaemon_pull", result)
    print(
        f"\npuller={puller} layers=3x{args.layer_size} ratelimit={args.ratelimit} reps={args.reps} "
        f"dfpath={args.dfpath or '(default)'} supernode maxBandwidth={args.supernode_bandwidth or '(default)'} "
        f"directBelow={args.direct_below or '(default)'} "
        f"(fallbacks={fallbacks:.0f}, layer GETs via dfget={via_dfget:.0f})"
    )
    print(
        f"pull through dfdaemon {summary['pull_mirror_s']:.2f}s vs direct {summary['pull_direct_s']:.2f}s: "
        f"median ratio {summary['pull_ratio']:.2f}"
    )
    print(
        f"first byte through dfdaemon {summary['ttfb_dfdaemon_s'] * 1000:.0f}ms vs direct "
        f"{summary['ttfb_direct_s'] * 1000:.0f}ms: median ratio {summary['ttfb_ratio']:.1f}"
    )
    print(
        f"whole layer GET through dfdaemon {summary['layer_get_dfdaemon_s']:.2f}s vs direct "
        f"{summary['layer_get_direct_s']:.2f}s"
    )
    if args.small_layers:
        print(
            f"{args.small_layers} small layers ({args.small_size}) through dfdaemon "
            f"{summary['small_pull_mirror_s']:.2f}s vs direct {summary['small_pull_direct_s']:.2f}s: "
            f"median ratio {summary['small_pull_ratio']:.2f}"
        )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
