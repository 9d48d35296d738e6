"""The interop matrix with the real Dragonfly v1.0.6 Go programs (issue 12 "Build"; what still
differs is in docs/compatibility.md):

* Go dfget -> our supernode: small, empty, multi-piece, missing URL, 4 at once serving each other;
* our dfget -> the Go supernode (nginx serving `<home>/repo` on its download port, as v1 ships);
* a mixed swarm on one host: Go and our dfget trading pieces both ways through our supernode;
* Go dfdaemon -> our supernode; our dfdaemon running the Go dfget (`--dfpath`).

Everything runs in one private network namespace (v1's Go supernode binds every interface): the
module's processes start on a thread inside it (tests/support/netns.py), and whatever is left in
it at the end is ended by PID. Skipped, saying why, without the Go binaries
(`$DRAGONFLY_V1GO`, else `<repo>/../shared/v1go`), root (for the namespace), nginx or
docker-registry. Small files and one origin/supernode per module keep it short.
"""

import os
import pathlib
import shutil

import pytest

from tests.e2e.dfdaemon_support.images import build_image, push
from tests.e2e.dfdaemon_support.lab import Dfdaemon, start_registry
from tests.support import v1go
from tests.support.dfget_runs import DfgetRunner
from tests.support.interop_lab import RUN_DEADLINE, Lab, finish, own_cid, pieces_from, sha
from tests.support.netns import Netns, NetnsUnavailable
from tests.support.procs import free_port, supernode_argv, wait_until

pytestmark = pytest.mark.e2e
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("interop")
    try:
        bins = v1go.unpack(str(tmp / "v1go"))
    except v1go.V1GoUnavailable as e:
        pytest.skip(str(e))
    try:
        ns = Netns(str(tmp / "netns.log"))
    except NetnsUnavailable as e:
        pytest.skip(f"{e} (v1's Go supernode binds every interface: it runs only in a private namespace)")
    try:
        lab = Lab(tmp, bins, ns)
    except BaseException:
        ns.close()
        raise
    yield lab
    lab.close()


# ---- Go dfget -> our supernode -------------------------------------------------------------------


@pytest.mark.parametrize("size", [15, 0, 5 * MIB + 3], ids=["15B", "empty", "multi-piece"])
def test_the_go_dfget_downloads_through_our_supernode(lab, size):
    url, content = lab.file(f"go-{size}.bin", size)
    proc, out, _ = lab.go_dfget(f"single-{size}", url, lab.node, "--notbs")
    code, text = finish(proc)
    assert code == 0 and "download SUCCESS" in text, text[-2000:]
    assert pathlib.Path(out).read_bytes() == content


def test_the_go_dfget_is_told_a_missing_url_is_missing(lab):
    proc, out, home = lab.go_dfget("missing", lab.origin + "/no-such-file", lab.node)
    code, text = finish(proc)
    assert code != 0 and not os.path.exists(out), text[-2000:]
    log = pathlib.Path(os.path.join(home, "logs", "dfclient.log")).read_text(errors="replace")
    assert '"code":607' in log or "url is not reachable" in log.lower() or "404" in log, log[-2000:]


def test_four_go_dfgets_at_once_serve_each_other_through_our_supernode(lab):
    url, content = lab.file("go-crowd.bin", 8 * MIB)
    before = lab.metric("dragonfly_supernode_pieces_downloaded_from_peers_size_bytes_total")
    runs = [lab.go_dfget(f"crowd-{i}", url, lab.node, "--notbs", "-s", "2M") for i in range(4)]
    logs = []
    for proc, out, home in runs:
        code, text = finish(proc)
        assert code == 0, text[-2000:]
        assert pathlib.Path(out).read_bytes() == content
        logs.append(pathlib.Path(os.path.join(home, "logs", "dfclient.log")).read_text(errors="replace"))
    cids = [own_cid(text) for text in logs]
    took = {(me, src) for me, text in zip(cids, logs, strict=True) for src in pieces_from(text) if src in cids}
    mutual = {frozenset(pair) for pair in took if pair[::-1] in took}
    from_peers = lab.metric("dragonfly_supernode_pieces_downloaded_from_peers_size_bytes_total") - before
    print(
        f"\nFIGURE go crowd: {len({src for _, src in took})} of 4 Go dfgets served pieces to others, "
        f"{len(mutual)} pairs served each other; {from_peers / MIB:.1f} MiB went peer to peer"
    )
    assert mutual and from_peers > 0  # peer traffic both ways


# ---- our dfget -> the Go supernode ---------------------------------------------------------------


@pytest.fixture(scope="module")
def go_supernode(lab):
    """v1's Go supernode with nginx on its download port rooted at <home>/repo (as v1 ships)."""
    nginx = shutil.which("nginx")
    if nginx is None:
        pytest.skip("nginx is not installed: v1's Go supernode needs a static file server on its download port")
    home = os.path.join(lab.tmp, "go-supernode")
    os.makedirs(os.path.join(home, "repo"))
    api, download = lab.ns.run(free_port), lab.ns.run(free_port)
    conf = os.path.join(lab.tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(
            f"worker_processes 1; daemon off; user root root; pid {lab.tmp}/nginx.pid; "
            f"error_log {lab.tmp}/nginx.err; events {{}} http {{ access_log off; "
            f"server {{ listen 127.0.0.1:{download}; location / {{ root {home}/repo; }} }} }}\n"
        )
    lab.start([nginx, "-c", conf, "-p", lab.tmp], "nginx")
    sn = lab.start(
        supernode_argv(os.path.join(lab.bins, "supernode"), home, api, download, listen=None),
        "go-supernode",
    )

    def ready():
        if not sn.alive():
            raise RuntimeError(sn.output()[-2000:])
        return lab.get(f"http://127.0.0.1:{api}/_ping").ok

    wait_until(ready, 60, "the Go supernode to answer /_ping")
    return f"127.0.0.1:{api}"


def test_our_dfget_downloads_through_the_go_supernode_and_from_our_peer(lab, go_supernode, tmp_path):
    url, content = lab.file("ours-via-go.bin", 6 * MIB + 11)
    runner = DfgetRunner(tmp_path, node=go_supernode)
    try:
        first = lab.ns.run(runner.start, "-u", url, "-o", str(tmp_path / "first"), "--notbs", home="first")
        done = runner.wait(first, RUN_DEADLINE)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        second = lab.ns.run(runner.start, "-u", url, "-o", str(tmp_path / "second"), "--notbs", home="second")
        done = runner.wait(second, RUN_DEADLINE)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        for name in ("first", "second"):
            assert sha((tmp_path / name).read_bytes()) == sha(content)
        logs = [
            pathlib.Path(os.path.join(runner.home(h), "logs", "dfclient.log")).read_text(errors="replace")
            for h in ("first", "second")
        ]
        from_first = [src for src in pieces_from(logs[1]) if src == own_cid(logs[0])]
        print(
            f"\nFIGURE ours via go supernode: the second of our dfgets took {len(from_first)} of "
            f"{len(pieces_from(logs[1]))} pieces from the first"
        )
        assert from_first
    finally:
        runner.stop_all()


def test_our_dfget_downloads_an_empty_file_through_the_go_supernode(lab, go_supernode, tmp_path):
    url, _ = lab.file("empty-via-go.bin", 0)
    runner = DfgetRunner(tmp_path, node=go_supernode)
    try:
        done = runner.wait(lab.ns.run(runner.start, "-u", url, "-o", str(tmp_path / "e"), home="e"), RUN_DEADLINE)
        assert done.returncode == 0 and (tmp_path / "e").read_bytes() == b"", done.stdout + done.stderr
    finally:
        runner.stop_all()


# ---- a mixed swarm on one host -------------------------------------------------------------------


def test_a_mixed_swarm_trades_pieces_both_ways(lab, tmp_path):
    url, content = lab.file("mixed.bin", 8 * MIB)
    runner = DfgetRunner(tmp_path, node=lab.node)
    try:
        ours = [
            lab.ns.run(
                runner.start, "-u", url, "-o", str(tmp_path / f"ours{i}"), "--notbs", "-s", "2M", home=f"ours{i}"
            )
            for i in range(2)
        ]
        gos = [lab.go_dfget(f"mixed-{i}", url, lab.node, "--notbs", "-s", "2M") for i in range(2)]
        for i, proc in enumerate(ours):
            done = runner.wait(proc, RUN_DEADLINE)
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
            assert sha((tmp_path / f"ours{i}").read_bytes()) == sha(content)
        go_logs = []
        for proc, out, home in gos:
            code, text = finish(proc)
            assert code == 0, text[-2000:]
            assert sha(pathlib.Path(out).read_bytes()) == sha(content)
            go_logs.append(pathlib.Path(os.path.join(home, "logs", "dfclient.log")).read_text(errors="replace"))
        our_logs = [
            pathlib.Path(os.path.join(runner.home(f"ours{i}"), "logs", "dfclient.log")).read_text(errors="replace")
            for i in range(2)
        ]
        go_cids, our_cids = {own_cid(t) for t in go_logs}, {own_cid(t) for t in our_logs}
        go_took_from_ours = sum(src in our_cids for t in go_logs for src in pieces_from(t))
        ours_took_from_go = sum(src in go_cids for t in our_logs for src in pieces_from(t))
        print(
            f"\nFIGURE mixed swarm: Go dfgets took {go_took_from_ours} pieces from ours, ours took "
            f"{ours_took_from_go} from the Go dfgets"
        )
        assert go_took_from_ours > 0 and ours_took_from_go > 0
    finally:
        runner.stop_all()


# ---- dfdaemon both ways --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry(lab):
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed")
    proc, url = lab.ns.run(start_registry, lab.tmp)
    lab.procs.append(proc)
    image = build_image(2, layer_size=2 * MIB)
    lab.ns.run(push, url, "library/interop", "1", image)
    return url, image


def blob_through(lab, mirror: str, digest: str) -> bytes:
    r = lab.get(f"{mirror}/v2/library/interop/blobs/{digest}")
    assert r.status_code == 200, (r.status_code, r.text[:300])
    return r.content


def test_the_go_dfdaemon_pulls_layers_through_our_supernode(lab, registry):
    url, image = registry
    home, port = os.path.join(lab.tmp, "go-dfdaemon"), lab.ns.run(free_port)
    daemon = lab.start(
        [
            os.path.join(lab.bins, "dfdaemon"),
            "--port",
            str(port),
            "--registry",
            url,
            "--node",
            lab.node,
            "--dfpath",
            os.path.join(lab.bins, "dfget"),
            "--workHome",
            home,
            "--localrepo",
            os.path.join(home, "repo"),
        ],
        "go-dfdaemon",
    )
    mirror = f"http://127.0.0.1:{port}"

    def ready():
        if not daemon.alive():
            raise RuntimeError(daemon.output()[-2000:])
        return lab.get(mirror + "/v2/").status_code in (200, 401)

    wait_until(ready, 60, "the Go dfdaemon to answer")
    for digest, blob in image.layers:
        assert blob_through(lab, mirror, digest) == blob
    tasks = lab.get(f"http://{lab.node}/api/v1/tasks").text
    assert all(f"/v2/library/interop/blobs/{d}" in tasks for d in image.layer_digests), tasks[:2000]


def test_our_dfdaemon_runs_the_go_dfget(lab, registry):
    url, image = registry
    daemon = lab.ns.run(Dfdaemon, lab.tmp, "our-dfdaemon", url, lab.node, dfpath=os.path.join(lab.bins, "dfget"))
    try:
        for digest, blob in image.layers:
            assert blob_through(lab, daemon.url, digest) == blob
        metrics = lab.get(daemon.url + "/metrics").text
        via = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith('dragonfly_dfdaemon_layer_requests_total{via="dfget"}')
        )
        fallbacks = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("dragonfly_dfdaemon_fallbacks_total")
        )
        assert via >= len(image.layers) and fallbacks == 0, daemon.logs()[-3000:]
    finally:
        daemon.stop()


def test_nothing_of_the_matrix_listens_outside_the_namespace(lab):
    """The namespace holds every listener of this module (the Go supernode binds 0.0.0.0)."""
    inside = set(lab.ns.pids_inside())
    assert all(p.pid in inside for p in lab.procs if p.alive())
