"""v1's own integration suite (`itest.test`, compiled from v1.0.6's test/) runs unchanged against
our supernode with only `SUPERNODE_DOWNLOAD_SERVER=external` set (issue 12 item 3,
docs/operations.md#an-external-download-server-nginx).

The harness finds its binaries relative to its working directory (`X/test/itest.test`,
`X/bin/linux_amd64/{supernode,dfget,dfdaemon}`; our `supernode` is a wrapper that starts this
venv's console script with the same arguments), uses the fixed ports 8008/8009 and writes under
/tmp. So it runs in private namespaces: network (its ports collide with nothing), mount (X is
bound at /mnt and /tmp is a fresh tmpfs, so nothing it leaves behind survives) and PID (`unshare
--kill-child`: ending unshare by its PID ends every process the suite started).
Skipped when the v1 Go programs or unprivileged-enough `unshare` are not available.
"""

import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.support import v1go

pytestmark = pytest.mark.e2e
SUITE_DEADLINE = 240.0  # s; the suite takes a few seconds


def _namespaces_usable() -> str:
    if not shutil.which("unshare") or not shutil.which("ip"):
        return "unshare or ip (util-linux, iproute2) is not installed"
    probe = subprocess.run(
        ["unshare", "-m", "-n", "-p", "-f", "--kill-child", "true"], capture_output=True, text=True, timeout=30
    )
    return "" if probe.returncode == 0 else f"cannot create namespaces: {probe.stderr.strip()[-200:]}"


@pytest.fixture(scope="module")
def itest_tree(tmp_path_factory):
    """X/test/itest.test and X/bin/linux_amd64/: v1's dfget and dfdaemon, our supernode."""
    why = _namespaces_usable()
    if why:
        pytest.skip(why)
    try:
        unpacked = v1go.unpack(str(tmp_path_factory.mktemp("v1go")))
    except v1go.V1GoUnavailable as e:
        pytest.skip(str(e))
    ours = os.path.join(os.path.dirname(sys.executable), "supernode")
    if not os.access(ours, os.X_OK):
        pytest.skip(f"no supernode console script next to {sys.executable}")
    x = tmp_path_factory.mktemp("itest")
    (x / "test").mkdir()
    bin_dir = x / "bin" / "linux_amd64"
    bin_dir.mkdir(parents=True)
    shutil.copy2(os.path.join(unpacked, "itest.test"), x / "test" / "itest.test")
    for name in ("dfget", "dfdaemon"):  # copies: X is seen at /mnt inside the namespace
        shutil.copy2(os.path.join(unpacked, name), bin_dir / name)
    wrapper = bin_dir / "supernode"
    wrapper.write_text(f'#!/bin/sh\nexec "{ours}" "$@" 2>>/mnt/supernode.log\n')
    wrapper.chmod(0o755)
    return x


def run_suite(x, env_extra: dict) -> "tuple[int, str]":
    """Run itest.test once in fresh namespaces; (exit status, its output)."""
    script = (
        'ip link set lo up && mount --bind "$X" /mnt && mount -t tmpfs tmpfs /tmp && '
        "cd /mnt/test && HOME=/tmp exec ./itest.test -check.v"
    )
    env = {**os.environ, "X": str(x), **env_extra}
    proc = subprocess.Popen(
        ["unshare", "-m", "-n", "-p", "-f", "--kill-child", "sh", "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=SUITE_DEADLINE)
    finally:
        if proc.poll() is None:  # --kill-child: the whole PID namespace goes with it
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
    return proc.returncode, out


def test_v1s_own_suite_passes_against_our_supernode_with_an_external_download_server(itest_tree):
    """`DF_V1_ITEST_RUNS=10` runs it ten times in a row (each in fresh namespaces); every run must pass."""
    runs = min(max(int(os.environ.get("DF_V1_ITEST_RUNS", "1")), 1), 50)
    for run in range(1, runs + 1):
        log = itest_tree / "supernode.log"
        if log.exists():
            log.unlink()
        code, out = run_suite(itest_tree, {"SUPERNODE_DOWNLOAD_SERVER": "external"})
        assert code == 0 and "OK: 5 passed" in out, (
            f"run {run} of {runs}:\n" + out[-3000:] + (log.read_text()[-2000:] if log.exists() else "")
        )
