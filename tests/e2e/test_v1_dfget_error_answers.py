"""The real v1.0.6 Go dfget against our supernode's new failure answers (docs/errors.md): 607 with a
cause at registration (an origin nobody listens on) and 610 on a pull (the build failed on the
user's --md5). v1's dfget knows neither message; it must still fall back to the source, fail with
its own v1 line and exit 80, and a normal download must still work. Skipped without the binaries.
"""

import hashlib
import os
import subprocess

import pytest

from tests.support.dfget_runs import end_pids, upload_server_pids
from tests.support.procs import free_port

pytestmark = pytest.mark.e2e
MIB = 1024 * 1024


@pytest.fixture
def run_go(go_dfget, tmp_path, supernode):
    home = str(tmp_path / "go-home")
    port = free_port()  # not the clock-derived port other dfgets on this machine may share

    def run(*args):
        return subprocess.run(
            [go_dfget, *args, "--node", f"127.0.0.1:{supernode.api_port}", "--home", home, "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )

    yield run
    end_pids(upload_server_pids(home))


def test_go_dfget_falls_back_and_fails_cleanly_on_our_failure_answers(run_go, origin, tmp_path):
    refused = free_port()
    res = run_go("-u", f"http://127.0.0.1:{refused}/f.bin", "-o", str(tmp_path / "a"))
    assert res.returncode == 80, res.stdout + res.stderr
    assert "reason:1" in res.stdout and "connection refused" in res.stdout  # 607: back to source at once

    data = os.urandom(3 * MIB)
    (origin.root / "f.bin").write_bytes(data)
    res = run_go("-u", origin.url + "/f.bin", "-o", str(tmp_path / "b"), "--md5", "0" * 32)
    assert res.returncode == 80, res.stdout + res.stderr
    assert "md5 not match" in res.stdout and hashlib.md5(data).hexdigest() in res.stdout
    assert not (tmp_path / "b").exists()

    res = run_go("-u", origin.url + "/f.bin", "-o", str(tmp_path / "c"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "c").read_bytes() == data and "reason:0" in res.stdout
