"""The CDN against sources that change or misbehave (issue 11 items 7 and 11), with real processes.

The test origin (tests/support/origin.py) answers every Range with a 206 and ignores If-Range, like
a careless or hostile server. Every process is ended by its PID; every wait has a deadline."""

import glob
import hashlib
import os
import signal

import pytest
import requests

from tests.support.dfget_runs import DfgetRunner
from tests.support.procs import start_supernode, wait_until

pytestmark = pytest.mark.e2e
MIB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def data_files(home) -> "list[str]":
    return [
        p for p in glob.glob(os.path.join(str(home), "repo", "download", "*", "*")) if not p.endswith((".meta", ".md5"))
    ]


def test_a_supernode_killed_mid_build_never_serves_a_mix_of_two_versions(tmp_path, origin, ended_by_pid):
    """Killed mid-build, the source replaced by another file of the same size while it was down,
    restarted on the same home: the resumed build must notice (another ETag on the 206) and start
    over, so dfget gets the new file whole, never half old and half new."""
    old, new = os.urandom(16 * MIB), os.urandom(16 * MIB)
    path = origin.root / "v.bin"
    path.write_bytes(old)
    url = origin.url + "/v.bin"
    home = tmp_path / "sn"
    slow = {"SUPERNODE_MAX_BANDWIDTH": "3M", "SUPERNODE_SYSTEM_RESERVED_BANDWIDTH": "1M"}  # 2 MB/s from the source
    proc, api, download = start_supernode(str(home), str(tmp_path / "sn1.out"), env=slow)
    ended_by_pid(proc)
    r = requests.post(f"http://127.0.0.1:{api}/preheats", json={"type": "file", "url": url}, timeout=10)
    assert r.status_code == 201, r.text
    wait_until(lambda: any(os.path.getsize(p) >= 3 * MIB for p in data_files(home)), 60, "a few pieces on disk")
    os.killpg(proc.pid, signal.SIGKILL)  # no graceful anything
    proc.popen.wait(timeout=10)
    (data,) = data_files(home)
    assert os.path.getsize(data) < 16 * MIB  # really mid-build

    path.write_bytes(new)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**10))  # another ETag and Last-Modified
    proc2, api, download = start_supernode(str(home), str(tmp_path / "sn2.out"), ports=(api, download))
    ended_by_pid(proc2)
    runner = DfgetRunner(tmp_path, node=f"127.0.0.1:{api}")
    try:
        out = tmp_path / "out.bin"
        done = runner.run("-u", url, "-o", str(out), "--notbs", timeout=120)
        assert done.returncode == 0, done.stdout[-600:] + done.stderr[-600:]
        assert sha(out.read_bytes()) == sha(new)
    finally:
        runner.stop_all()
    log = (home / "logs" / "app.log").read_text(errors="replace")
    assert "a 206 of another version" in log  # the resume was tried and refused
