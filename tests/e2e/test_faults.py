"""Faults survived, nothing lost: real processes, injected failures, identical bytes everywhere."""

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.dfget_runs import DfgetRunner
from tests.support.procs import kill_tree, start_origin, start_supernode, wait_until
from tests.support.v1client import V1Client

pytestmark = pytest.mark.e2e
MIB = 1024 * 1024


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_origin_cutting_the_stream_is_resumed_with_range(tmp_path, origin_dir, supernode):
    content = os.urandom(6 * MIB)
    (origin_dir / "cut.bin").write_bytes(content)
    proc, port = start_origin(str(origin_dir), str(tmp_path / "cutting-origin.log"), "--cut-after", str(2 * MIB))
    try:
        runner = DfgetRunner(tmp_path, node=f"127.0.0.1:{supernode.api_port}")
        procs = [
            runner.start(
                "-u", f"http://127.0.0.1:{port}/cut.bin", "-o", str(tmp_path / f"o{i}"), "--notbs", home=f"h{i}"
            )
            for i in range(3)
        ]
        results = [runner.wait(p, timeout=90) for p in procs]
        runner.stop_all()
        assert all(r.returncode == 0 for r in results), [r.stdout for r in results]
        assert {digest(tmp_path / f"o{i}") for i in range(3)} == {hashlib.sha256(content).hexdigest()}
        import requests

        stats = requests.get(f"http://127.0.0.1:{port}/_stats", timeout=5).json()
        assert stats["gets"]["/cut.bin"] == 2  # the cut stream and one resume
        assert stats["bytes"]["/cut.bin"] == len(content)  # nothing fetched twice
    finally:
        proc.stop()


def test_two_hundred_concurrent_registrations_make_one_source_download(supernode, origin):
    (origin.root / "crowd.bin").write_bytes(os.urandom(2 * MIB))
    url = origin.url + "/crowd.bin"
    clients = [V1Client(supernode.api_url, name=f"c{i}") for i in range(200)]
    with ThreadPoolExecutor(64) as pool:
        answers = list(pool.map(lambda c: c.register(url), clients))
    assert [a["code"] for a in answers] == [200] * 200
    clients[0].download(url)
    assert origin.stats()["gets"]["/crowd.bin"] == 1
    assert supernode.metric("dragonfly_supernode_cdn_download_total") == 1


def test_a_peer_killed_mid_download_does_not_stop_the_others(tmp_path, supernode, origin):
    content = os.urandom(16 * MIB)
    (origin.root / "churn.bin").write_bytes(content)
    runner = DfgetRunner(tmp_path, node=f"127.0.0.1:{supernode.api_port}")
    url = origin.url + "/churn.bin"
    # The victim is the slowest, so that it is still downloading (and serving) when it dies.
    victim = runner.start("-u", url, "-o", str(tmp_path / "o0"), "--notbs", "-s", "1M", home="h0")
    others = [
        runner.start("-u", url, "-o", str(tmp_path / f"o{i}"), "--notbs", "-s", "3M", home=f"h{i}") for i in range(1, 8)
    ]
    # The fault point is a point in the transfer, not on the clock: the victim holds two pieces.
    wait_until(lambda: runner.pieces_done("h0") >= 2 or victim.poll() is not None, 120, "the victim to hold two pieces")
    assert victim.poll() is None, "the victim finished before the fault could be injected"
    killed = kill_tree(victim.pid)  # dfget and the upload server it spawned, whenever it came up
    results = [runner.wait(p, timeout=180) for p in others]
    runner.stop_all()
    assert len(killed) >= 1
    assert all(r.returncode == 0 for r in results), [r.stdout[-500:] for r in results]
    expected = hashlib.sha256(content).hexdigest()
    assert all(digest(tmp_path / f"o{i}") == expected for i in range(1, 8))


def test_supernode_killed_mid_transfer_clients_migrate_to_the_second(tmp_path, origin):
    content = os.urandom(16 * MIB)
    (origin.root / "migrate.bin").write_bytes(content)
    nodes = [start_supernode(str(tmp_path / f"sn{i}"), str(tmp_path / f"sn{i}.out")) for i in range(2)]
    try:
        node_list = ",".join(f"127.0.0.1:{api}" for _, api, _ in nodes)
        runner = DfgetRunner(tmp_path, node=node_list)
        procs = [
            runner.start(
                "-u", origin.url + "/migrate.bin", "-o", str(tmp_path / f"o{i}"), "--notbs", "-s", "4M", home=f"h{i}"
            )
            for i in range(4)
        ]
        # the one supernode the URL hashes to has the task: kill it once it is serving
        import requests

        def serving():
            for proc, api, _ in nodes:
                if requests.get(f"http://127.0.0.1:{api}/api/v1/tasks", timeout=2).json():
                    return proc

        chosen = wait_until(serving, 60, "a supernode to get the task")
        # kill it at a point in the transfer, not on the clock: a client holds a piece, none is done
        wait_until(
            lambda: any(runner.pieces_done(f"h{i}") for i in range(4)) or any(p.poll() is not None for p in procs),
            120,
            "a client to hold a piece",
        )
        assert all(p.poll() is None for p in procs), "a client finished before the fault"
        chosen.stop()
        results = [runner.wait(p, timeout=180) for p in procs]
        runner.stop_all()
        assert all(r.returncode == 0 for r in results), [r.stdout[-600:] for r in results]
        assert any("migrated to node" in r.stdout for r in results)
        expected = hashlib.sha256(content).hexdigest()
        assert all(digest(tmp_path / f"o{i}") == expected for i in range(4))
        assert origin.stats()["bytes"]["/migrate.bin"] <= 2 * len(content)
    finally:
        for proc, _, _ in nodes:
            proc.stop()
