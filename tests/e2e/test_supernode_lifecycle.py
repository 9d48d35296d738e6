"""Supernode behaviour over time and in its other modes: GC after the worker forks, the
`source` CDN pattern, logs where v1 kept them."""

import hashlib
import os

import pytest
import requests

from tests.support.dfget_runs import DfgetRunner
from tests.support.procs import start_supernode, wait_until
from tests.support.v1client import V1Client

pytestmark = pytest.mark.e2e


@pytest.fixture
def fast_gc_supernode(tmp_path):
    proc, api, _ = start_supernode(
        str(tmp_path / "sn"),
        str(tmp_path / "sn.out"),
        "--gc-initial-delay",
        "0s",
        "--gc-meta-interval",
        "1s",
        "--task-expire-time",
        "2s",
        "--peer-gc-delay",
        "1s",
    )
    yield f"http://127.0.0.1:{api}", tmp_path / "sn"
    proc.stop()


def test_background_gc_collects_an_idle_task_and_keeps_its_cache(fast_gc_supernode, origin):
    api, home = fast_gc_supernode
    (origin.root / "gc.bin").write_bytes(os.urandom(50_000))
    data, _ = V1Client(api).download(origin.url + "/gc.bin")
    task_id = requests.get(api + "/api/v1/tasks", timeout=5).json()[0]["ID"]
    wait_until(
        lambda: requests.get(f"{api}/api/v1/tasks/{task_id}", timeout=5).status_code == 404,
        20,
        "task GC to collect the idle task",
    )
    metrics = requests.get(api + "/metrics", timeout=5).text
    assert "dragonfly_supernode_gc_tasks_total 1.0" in metrics
    # the cache stays on disk and serves the next download without a second source fetch
    assert (home / "repo" / "download" / task_id[:3] / task_id).exists()
    again, _ = V1Client(api).download(origin.url + "/gc.bin")
    assert again == data
    assert origin.stats()["gets"]["/gc.bin"] == 1
    assert (home / "logs" / "app.log").stat().st_size > 0


def test_cdn_pattern_source_sends_clients_to_the_origin(tmp_path, origin):
    proc, api, _ = start_supernode(str(tmp_path / "sn"), str(tmp_path / "sn.out"), "--cdn-pattern", "source")
    try:
        content = os.urandom(3 * 1024 * 1024 + 7)
        (origin.root / "direct.bin").write_bytes(content)
        runner = DfgetRunner(tmp_path, node=f"127.0.0.1:{api}")
        out = tmp_path / "direct.bin"
        run = runner.run("-u", origin.url + "/direct.bin", "-o", str(out), "--notbs")
        runner.stop_all()
        assert run.returncode == 0, run.stdout + run.stderr
        assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(content).digest()
        assert not (tmp_path / "sn" / "repo" / "download").exists() or not any(
            (tmp_path / "sn" / "repo" / "download").rglob("*.meta")
        )
    finally:
        proc.stop()
