"""Issue 11 items 6 and 2 end to end: nobody acts as another client, nobody reads what is not
theirs - with real processes, an origin that wants an unusual credential header, and (when its
binaries are there) a real v1 Go dfget, which cannot send a client key."""

import os
import pathlib
import re
import subprocess
import threading
import time

import pytest
import requests

from tests.support.dfget_runs import DfgetRunner, end_pids
from tests.support.procs import free_port, start_origin
from tests.support.v1client import V1Client

pytestmark = pytest.mark.e2e
MIB = 1024 * 1024
ART_KEY = "AKCp8-jfrog-art-api-key-0123456789"
FLOOD_REQUESTS = 600


def from_host(source_ip: str, url: str, params: dict) -> dict:
    """A GET sent from another loopback address: another host, as far as the supernode can tell."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter()
    adapter.init_poolmanager(1, 1, source_address=(source_ip, 0))
    session.mount("http://", adapter)
    return session.get(url, params=params, timeout=10).json()


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (gunicorn master + worker)."""
    total, pids = 0, [pid]
    while pids:
        p = pids.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            with open(f"/proc/{p}/task/{p}/children") as f:
                pids += [int(c) for c in f.read().split()]
        except (OSError, StopIteration):
            continue
    return total


def registered_cids(log_text: str, task_id: str) -> "list[str]":
    return sorted(set(re.findall(rf"register task={task_id} cid=(\S+) ip=\S+ code=200", log_text)))


@pytest.fixture
def jfrog_origin(tmp_path, origin_dir):
    proc, port = start_origin(
        str(origin_dir), str(tmp_path / "jfrog-origin.log"), "--auth-header", "X-JFrog-Art-Api", "--auth", ART_KEY
    )
    yield f"http://127.0.0.1:{port}", origin_dir
    proc.stop()


def test_private_content_behind_an_unusual_header_stays_with_its_owner(tmp_path, supernode, jfrog_origin):
    base, root = jfrog_origin
    content = os.urandom(3 * MIB)
    (root / "artifact.bin").write_bytes(content)
    url = base + "/artifact.bin"
    runner = DfgetRunner(tmp_path, node=f"127.0.0.1:{supernode.api_port}")
    try:
        owner = runner.run(
            "-u", url, "-o", str(tmp_path / "owner"), "--notbs", "--header", f"X-JFrog-Art-Api: {ART_KEY}", home="owner"
        )
        assert owner.returncode == 0, owner.stdout + owner.stderr
        assert (tmp_path / "owner").read_bytes() == content
        anonymous = runner.run("-u", url, "-o", str(tmp_path / "anonymous"), "--notbs", home="anonymous")
        assert anonymous.returncode != 0 and not (tmp_path / "anonymous").exists()
        wrong = runner.run(
            "-u", url, "-o", str(tmp_path / "wrong"), "--notbs", "--header", "X-JFrog-Art-Api: guessed", home="wrong"
        )
        assert wrong.returncode != 0 and not (tmp_path / "wrong").exists()
        assert V1Client(supernode.api_url, name="v1-anon").register(url)["code"] == 608
        friend = runner.run(
            "-u",
            url,
            "-o",
            str(tmp_path / "friend"),
            "--notbs",
            "--header",
            f"X-JFrog-Art-Api: {ART_KEY}",
            home="friend",
        )
        assert friend.returncode == 0 and (tmp_path / "friend").read_bytes() == content

        shown = [
            requests.get(supernode.api_url + path, timeout=5).text
            for path in ("/api/v1/tasks", "/api/v1/console/snapshot", "/metrics")
        ]
        logs = [(tmp_path / "supernode.out").read_text(errors="replace")]
        for dirpath, _, files in os.walk(supernode.home_dir):
            logs += [
                pathlib.Path(os.path.join(dirpath, f)).read_text(errors="replace")
                for f in files
                if f.endswith(".log") or dirpath.endswith("logs")
            ]
        leaked = [text for text in shown + logs if ART_KEY in text]
        print(
            f"\nFIGURE item2: anonymous and wrong-key clients got 0 bytes; the key appears in "
            f"{len(leaked)} of {len(shown + logs)} API answers and logs"
        )
        assert not leaked
    finally:
        runner.stop_all()


def test_forged_reports_from_another_host_neither_displace_peers_nor_slow_a_client(tmp_path, supernode, origin):
    content = os.urandom(4 * MIB)
    (origin.root / "shared.bin").write_bytes(content)
    url = origin.url + "/shared.bin"
    runner = DfgetRunner(tmp_path, node=f"127.0.0.1:{supernode.api_port}")
    try:
        for name in ("peer-a", "peer-b"):
            done = runner.run("-u", url, "-o", str(tmp_path / name), home=name)
            assert done.returncode == 0, done.stdout + done.stderr
        task = requests.get(supernode.api_url + "/api/v1/tasks", timeout=5).json()[0]["ID"]
        cids = registered_cids((supernode.home_dir / "logs" / "app.log").read_text(errors="replace"), task)
        assert len(cids) == 2  # cids leak through logs; that must not matter any more
        api = supernode.api_url
        answers = []
        for cid in cids:
            answers += [
                from_host("127.0.0.3", api + "/peer/service/down", {"taskId": task, "cid": cid}),
                from_host(
                    "127.0.0.3", api + "/peer/piece/suc", {"taskId": task, "cid": cid, "pieceRange": "0-1048575"}
                ),
                from_host(
                    "127.0.0.3", api + "/peer/task", {"srcCid": cid, "taskId": task, "status": 702, "result": 500}
                ),
            ]
        assert [a["code"] for a in answers] == [501] * len(answers), answers
        peers = requests.get(api + "/api/v1/console/snapshot", timeout=5).json()["peers"]
        assert not any(p["down"] for p in peers if not p["supernode"])
        # our dfget used its client key, so not even its own address speaks for it without the key
        assert from_host("127.0.0.1", api + "/peer/service/down", {"taskId": task, "cid": cids[0]})["code"] == 501

        started = time.monotonic()
        quiet = runner.run("-u", url, "-o", str(tmp_path / "quiet"), "--notbs", home="quiet")
        baseline = time.monotonic() - started
        assert quiet.returncode == 0

        # a legitimate client downloads while a bounded flood of forged reports runs
        rss_before = rss_kib(supernode.pid)
        stop, sent = threading.Event(), []

        def flood():
            deadline = time.monotonic() + 60
            while not stop.is_set() and len(sent) < FLOOD_REQUESTS and time.monotonic() < deadline:
                cid = cids[len(sent) % 2]
                sent.append(from_host("127.0.0.3", api + "/peer/service/down", {"taskId": task, "cid": cid})["code"])

        flooder = threading.Thread(target=flood, daemon=True)
        flooder.start()
        started = time.monotonic()
        late = runner.run("-u", url, "-o", str(tmp_path / "late"), "--notbs", home="late")
        elapsed = time.monotonic() - started
        stop.set()
        flooder.join(30)
        assert late.returncode == 0 and (tmp_path / "late").read_bytes() == content
        assert set(sent) <= {501}
        assert supernode.metric('dragonfly_supernode_reports_refused_total{report="service_down"}') >= len(sent)
        from_peers = supernode.metric("dragonfly_supernode_pieces_downloaded_from_peers_size_bytes_total")
        print(
            f"\nFIGURE item6: {len(sent)} forged service/down during a 4 MiB --notbs download: "
            f"{elapsed:.2f} s (without the flood: {baseline:.2f} s), "
            f"supernode RSS {rss_before} -> {rss_kib(supernode.pid)} KiB, "
            f"{from_peers:.0f} bytes came from the two peers"
        )
        peers = requests.get(api + "/api/v1/console/snapshot", timeout=5).json()["peers"]
        assert not any(p["down"] for p in peers if not p["supernode"])

        # the real service/down still works: the host's upload server (one per host, shared by the
        # four homes), stopped, reports each of its tasks down with that task's key
        end_pids([pid for home in ("peer-a", "peer-b", "quiet", "late") for pid in runner.upload_pids(home)])
        peers = requests.get(api + "/api/v1/console/snapshot", timeout=5).json()["peers"]
        assert all(p["down"] for p in peers if not p["supernode"]), peers
    finally:
        runner.stop_all()


def _pids_with(text: str) -> "list[int]":
    """Our v1 upload servers: processes whose command line names our unique home directory."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def test_a_v1_go_dfget_still_downloads_and_reports_by_its_address(tmp_path, supernode, origin, go_dfget):
    content = os.urandom(3 * MIB)
    (origin.root / "v1.bin").write_bytes(content)
    url = origin.url + "/v1.bin"
    homes = [str(tmp_path / f"v1-home-{n}") for n in range(2)]
    try:
        for n, home in enumerate(homes):
            argv = [
                go_dfget,
                "-u",
                url,
                "-o",
                str(tmp_path / f"v1-out-{n}"),
                "--node",
                f"127.0.0.1:{supernode.api_port}",
                "--home",
                home,
                "--notbs",
                "--ip",
                "127.0.0.1",
                "--port",
                str(free_port()),
                "--alivetime",
                "30s",
            ]
            done = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
            assert (tmp_path / f"v1-out-{n}").read_bytes() == content
        # the second got pieces from the first's v1 upload server, scheduled by our supernode
        from_peers = supernode.metric("dragonfly_supernode_pieces_downloaded_from_peers_size_bytes_total")
        print(f"\nFIGURE v1: {from_peers:.0f} bytes went from a v1 dfget to a v1 dfget")
        assert from_peers > 0
    finally:
        end_pids([pid for home in homes for pid in _pids_with(home)])
