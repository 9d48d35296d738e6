"""dfget as users run it: real dfget processes, a real supernode, a real origin."""

import hashlib
import os
import subprocess

import pytest

from tests.support.dfget_runs import DfgetRunner
from tests.support.procs import free_port

pytestmark = pytest.mark.e2e
MIB = 1024 * 1024


@pytest.fixture
def dfget(tmp_path, supernode):
    runner = DfgetRunner(tmp_path, node=f"127.0.0.1:{supernode.api_port}")
    yield runner
    runner.stop_all()


def sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_v1_scenario_small_file(dfget, origin, tmp_path):
    (origin.root / "normal.txt").write_bytes(b"hello Dragonfly")
    out = tmp_path / "normal.txt"
    run = dfget.run("-u", origin.url + "/normal.txt", "-o", str(out), "--notbs")
    assert run.returncode == 0, run.stdout + run.stderr
    assert out.read_bytes() == b"hello Dragonfly"
    assert "download SUCCESS" in run.stdout and "reason:0" in run.stdout


def test_v1_scenario_empty_file(dfget, origin, tmp_path):
    (origin.root / "empty.txt").write_bytes(b"")
    out = tmp_path / "empty.txt"
    run = dfget.run("-u", origin.url + "/empty.txt", "-o", str(out), "--notbs")
    assert run.returncode == 0, run.stdout + run.stderr
    assert out.read_bytes() == b""


def test_v1_scenario_missing_file_with_notbs_fails(dfget, origin, tmp_path):
    out = tmp_path / "notExist.txt"
    run = dfget.run("-u", origin.url + "/notExist.txt", "-o", str(out), "--notbs")
    assert run.returncode != 0
    assert not out.exists()


def test_swarm_of_six_gets_identical_bytes_mostly_from_peers(dfget, origin, supernode, tmp_path):
    content = os.urandom(24 * MIB)
    (origin.root / "swarm.bin").write_bytes(content)
    outs = [tmp_path / f"out{i}.bin" for i in range(6)]
    procs = [
        dfget.start("-u", origin.url + "/swarm.bin", "-o", str(out), "--notbs", "-s", "6M", home=f"home{i}")
        for i, out in enumerate(outs)
    ]
    results = [dfget.wait(p, timeout=120) for p in procs]
    for r in results:
        assert r.returncode == 0, r.stdout + r.stderr
    expected = hashlib.sha256(content).hexdigest()
    assert all(sha256(o) == expected for o in outs)
    assert origin.stats()["bytes"]["/swarm.bin"] <= 1.1 * len(content)  # the origin sent one copy
    from_peers = supernode.metric("dragonfly_supernode_pieces_downloaded_from_peers_size_bytes_total")
    from_supernode = supernode.metric("dragonfly_supernode_pieces_downloaded_size_bytes_total")
    assert from_peers + from_supernode >= 6 * len(content) * 0.99
    assert from_peers > from_supernode, (from_peers, from_supernode)


def test_supernode_down_falls_back_to_source(dfget, origin, tmp_path):
    (origin.root / "f.bin").write_bytes(b"y" * 5000)
    out = tmp_path / "f.bin"
    dead = DfgetRunner(tmp_path, node=f"127.0.0.1:{free_port()}")  # closed; port 1 may be taken
    run = dead.run("-u", origin.url + "/f.bin", "-o", str(out))
    dead.stop_all()
    assert run.returncode == 0, run.stdout + run.stderr
    assert out.read_bytes() == b"y" * 5000
    # P2P switching itself off is said on the terminal (stderr: v1's stdout lines stay as they are)
    assert run.stderr.count("warning: P2P is off: no supernode took the download") == 1, run.stderr


def test_notbs_with_dead_supernode_fails_with_v1_message(origin, tmp_path):
    (origin.root / "f.bin").write_bytes(b"z" * 10)
    dead = DfgetRunner(tmp_path, node=f"127.0.0.1:{free_port()}")  # closed; port 1 may be taken
    run = dead.run("-u", origin.url + "/f.bin", "-o", str(tmp_path / "f.bin"), "--notbs")
    dead.stop_all()
    assert run.returncode != 0
    assert "download fail and not back source" in run.stdout + run.stderr
    assert not (tmp_path / "f.bin").exists()


def test_second_dfget_on_the_same_host_reuses_the_upload_server(dfget, origin, tmp_path):
    (origin.root / "a.bin").write_bytes(os.urandom(100_000))
    (origin.root / "b.bin").write_bytes(os.urandom(100_000))
    first = dfget.run("-u", origin.url + "/a.bin", "-o", str(tmp_path / "a.bin"), home="shared")
    port_after_first = dfget.upload_port("shared")
    second = dfget.run("-u", origin.url + "/b.bin", "-o", str(tmp_path / "b.bin"), home="shared")
    assert first.returncode == 0 and second.returncode == 0, first.stdout + second.stdout
    assert port_after_first and dfget.upload_port("shared") == port_after_first
    # the second dfget started no server of its own (one upload server per host; the first may
    # itself have found one that another home started)
    log_text = (tmp_path / "dfget-homes" / "shared" / "logs" / "dfclient.log").read_text()
    assert log_text.count("starting the upload server") <= 1
    assert len(dfget.upload_pids("shared")) <= 1


def test_bad_usage_exits_1(tmp_path):
    run = subprocess.run(
        ["dfget", "-u", "ftp://x/y", "-o", str(tmp_path / "o")], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 1
