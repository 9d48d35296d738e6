"""One upload server per host, whichever program started it (issue 12 item 1): v1's Go dfget
reuses the upload server our dfget started, and that server serves the Go dfget's file from the
Go dfget's own home. Skipped when the v1 Go binaries are not on this machine.

The v1 binaries: `$DRAGONFLY_V1GO`, else `<repo>/../shared/v1go` (see its README).
"""

import json
import os
import pathlib
import subprocess

import pytest
import requests

from tests.support.dfget_runs import DfgetRunner, end_pids, upload_server_pids
from tests.support.procs import free_port, wait_until

pytestmark = pytest.mark.e2e
MIB = 1024 * 1024


def test_a_go_dfget_shares_our_upload_server_and_it_serves_the_go_dfgets_home(tmp_path, supernode, origin, go_dfget):
    (origin.root / "ours.bin").write_bytes(os.urandom(3 * MIB))
    (origin.root / "theirs.bin").write_bytes(os.urandom(3 * MIB))
    port = free_port()  # both get it explicitly: the clock-derived ports of a shared CI host are busy
    runner = DfgetRunner(tmp_path, node=f"127.0.0.1:{supernode.api_port}")
    go_home = str(tmp_path / "go-home")
    try:
        ours = runner.run(
            "-u", origin.url + "/ours.bin", "-o", str(tmp_path / "ours.bin"), "--port", str(port), home="peer"
        )
        assert ours.returncode == 0, ours.stdout + ours.stderr
        assert runner.upload_port("peer") == port
        go = subprocess.run(
            [
                go_dfget,
                "-u",
                origin.url + "/theirs.bin",
                "-o",
                str(tmp_path / "theirs.bin"),
                "--node",
                f"127.0.0.1:{supernode.api_port}",
                "--home",
                go_home,
                "--port",
                str(port),
                "--alivetime",
                "30s",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert go.returncode == 0 and "download SUCCESS" in go.stdout, go.stdout + go.stderr
        with open(os.path.join(go_home, "logs", "dfclient.log")) as f:
            log = f.read()
        assert f"use peer server on port:{port}" in log and "status code: 409" not in log
        with open(os.path.join(go_home, "meta", "host.meta")) as f:
            assert json.load(f)["servicePort"] == port
        # our server serves the Go dfget's file, from the Go dfget's data dir, to another host
        [service] = [n for n in os.listdir(os.path.join(go_home, "data")) if n.endswith(".service")]
        expected = (tmp_path / "theirs.bin").read_bytes()[:MIB]
        with requests.Session() as s:
            s.trust_env = False
            r = s.get(
                f"http://127.0.0.1:{port}/peer/file/{service[: -len('.service')]}",
                timeout=10,
                headers={"Range": f"bytes=0-{MIB - 1}", "pieceNum": "0", "pieceSize": str(MIB), "cdnSource": "source"},
            )
        assert r.status_code == 206 and r.content == expected
        # the Go dfget's /client/finish (superNode ip:port) was accepted: the task may expire
        server_log = os.path.join(runner.home("peer"), "logs", "dfserver.log")
        finished = f"client finish task={service[: -len('.service')]}"
        wait_until(lambda: finished in pathlib.Path(server_log).read_text(), 30, "the Go dfget's /client/finish")
    finally:
        runner.stop_all()
        end_pids(upload_server_pids(go_home))
