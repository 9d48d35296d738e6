"""What a user reads when a download cannot work (docs/errors.md): real dfget
processes, a real supernode, real origins (an HTTPS one whose certificate no default store trusts,
a closed port, a file that is not the --md5 the user gave). Each failure is named once, with
host:port and what to do, the exit status is v1's download class (80), and nothing blames the
wrong party (608 "credentials", "the supernode failed") or migrates to the node it came from."""

import hashlib
import os

import pytest
import requests

from dfget.status import ExitStatus
from tests.e2e.dfdaemon_support.lab import make_ca, make_server_cert
from tests.support.dfget_runs import DfgetRunner
from tests.support.procs import free_port, start_origin

pytestmark = pytest.mark.e2e
MIB = 1024 * 1024
URLLIB3_NOISE = ("HTTPSConnectionPool", "HTTPConnectionPool", "Max retries", "NewConnectionError", "SSLError(")


@pytest.fixture
def dfget(tmp_path, supernode):
    runner = DfgetRunner(tmp_path, node=f"127.0.0.1:{supernode.api_port}")
    yield runner
    runner.stop_all()


@pytest.fixture
def tls_origin(tmp_path, origin_dir, ended_by_pid):
    """An HTTPS origin on 127.0.0.1 with a certificate signed by a CA of this test only."""
    ca = make_ca(str(tmp_path))
    cert, key = make_server_cert(str(tmp_path), ca, ["127.0.0.1", "localhost"])
    proc, port = start_origin(str(origin_dir), str(tmp_path / "tls-origin.log"), "--tls-cert", cert, "--tls-key", key)
    ended_by_pid(proc)

    class TlsOrigin:
        url = f"https://127.0.0.1:{port}"
        where = f"127.0.0.1:{port}"
        ca_file = ca[0]
        root = origin_dir

    return TlsOrigin


def last_line(run) -> str:
    return run.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("header", [False, True], ids=["anonymous", "with-a-header"])
def test_an_untrusted_origin_certificate_is_named_with_host_and_fix(dfget, tls_origin, tmp_path, header):
    """With a header the task is credentialed: a TLS failure used to come back as 608 'your
    credentials were not accepted by the source (HTTP 0)', exit 79, no source attempt."""
    (tls_origin.root / "f.bin").write_bytes(os.urandom(MIB + 7))
    extra = ["--header", "X-Team: a"] if header else []
    out = tmp_path / "f.bin"
    run = dfget.run("-u", tls_origin.url + "/f.bin", "-o", str(out), *extra)
    assert run.returncode == ExitStatus.DOWNLOAD, run.stdout + run.stderr
    line = last_line(run)
    assert line.startswith("download FAIL(1104)")
    assert f"the TLS certificate of {tls_origin.where} is not trusted" in line
    assert "--cacerts" in line and "--insecure" in line
    everything = run.stdout + run.stderr
    assert "608" not in everything and "credentials" not in everything
    assert "migrated to node" not in everything
    assert not any(noise in everything for noise in URLLIB3_NOISE), everything
    assert not out.exists()


def test_the_fix_the_message_names_works(dfget, tls_origin, tmp_path, supernode):
    """--cacerts with the origin's CA: the supernode (rootCAs) and dfget both trust it, P2P works."""
    data = os.urandom(2 * MIB + 3)
    (tls_origin.root / "g.bin").write_bytes(data)
    out = tmp_path / "g.bin"
    run = dfget.run("-u", tls_origin.url + "/g.bin", "-o", str(out), "--cacerts", tls_origin.ca_file, "--notbs")
    assert run.returncode == 0, run.stdout + run.stderr
    assert out.read_bytes() == data and "reason:0" in last_line(run)


def test_an_unreachable_origin_is_one_line_and_no_pointless_migration(dfget, tmp_path):
    port = free_port()  # bound once and closed: nothing listens there
    out = tmp_path / "nothing.bin"
    run = dfget.run("-u", f"http://127.0.0.1:{port}/nothing.bin", "-o", str(out))
    assert run.returncode == ExitStatus.DOWNLOAD, run.stdout + run.stderr
    line = last_line(run)
    assert f"127.0.0.1:{port} refused the connection" in line
    everything = run.stdout + run.stderr
    assert "migrated to node" not in everything
    assert not any(noise in everything for noise in URLLIB3_NOISE), everything
    assert not out.exists()


def test_a_wrong_md5_says_so_and_no_count_exceeds_the_total(dfget, origin, supernode, tmp_path):
    """20 MiB in 1 MiB pieces is 21 framed pieces. The build fails at its end (the md5), so the
    task's piece total is never corrected by a success: it must be right from the start."""
    data = os.urandom(20 * MIB)
    (origin.root / "twenty.bin").write_bytes(data)
    real, wrong = hashlib.md5(data).hexdigest(), "0" * 32
    out = tmp_path / "twenty.bin"
    run = dfget.run("-u", origin.url + "/twenty.bin", "-o", str(out), "--md5", wrong)
    assert run.returncode == ExitStatus.DOWNLOAD, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    first_failure = next(x for x in lines if "fail" in x.lower())
    assert "md5 mismatch" in first_failure and real in first_failure and wrong in first_failure
    assert "the supernode failed" not in run.stdout and "migrated to node" not in run.stdout
    assert "md5 not match" in last_line(run) and real in last_line(run)
    assert not out.exists()
    tasks = requests.get(supernode.api_url + "/api/v1/console/snapshot", timeout=5).json()["tasks"]
    task = next(t for t in tasks if t["url"].endswith("/twenty.bin"))
    assert task["piece_total"] == 21
    assert task["cdn_pieces"] <= task["piece_total"]
    for holder in task["holders"]:
        assert holder["done"] <= task["piece_total"], holder
