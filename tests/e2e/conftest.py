import os
import shutil

import pytest
import requests

from tests.support import v1go
from tests.support.procs import start_origin, start_supernode


@pytest.fixture
def origin_dir(tmp_path):
    d = tmp_path / "origin"
    d.mkdir()
    return d


@pytest.fixture
def origin(origin_dir, tmp_path):
    """A real origin process serving origin_dir; yields its base URL and a stats reader."""
    proc, port = start_origin(str(origin_dir), str(tmp_path / "origin.log"))
    base = f"http://127.0.0.1:{port}"

    class Origin:
        url = base
        root = origin_dir

        @staticmethod
        def stats():
            return requests.get(base + "/_stats", timeout=5).json()

    yield Origin
    proc.stop()


@pytest.fixture
def supernode(tmp_path):
    """A real supernode (gunicorn, one gevent worker) on two free loopback ports."""
    home = tmp_path / "supernode"
    proc, api, download = start_supernode(str(home), str(tmp_path / "supernode.out"))

    class Supernode:
        pid = proc.pid
        api_url = f"http://127.0.0.1:{api}"
        download_url = f"http://127.0.0.1:{download}"
        api_port, download_port = api, download
        home_dir = home

        @staticmethod
        def metrics() -> str:
            return requests.get(f"http://127.0.0.1:{api}/metrics", timeout=5).text

        @staticmethod
        def metric(name: str) -> float:
            """Sum of every sample of `name` (all label sets, or the one spelled out in `name`)."""
            total = 0.0
            for line in requests.get(f"http://127.0.0.1:{api}/metrics", timeout=5).text.splitlines():
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    total += float(line.rsplit(" ", 1)[1])
            return total

    yield Supernode
    proc.stop()
    if os.environ.get("DF_KEEP_LOGS"):
        print(proc.output())


@pytest.fixture
def ended_by_pid():
    """`keep(proc) -> proc`: every process kept is stopped (by its PID, newest first) at the end."""
    procs = []

    def keep(proc):
        procs.append(proc)
        return proc

    yield keep
    for proc in reversed(procs):
        proc.stop()


@pytest.fixture(params=["in-process", "dfpath"])
def dfdaemon_mode(request):
    """Run the test twice: dfdaemon's default in-process downloads, and `--dfpath` to our dfget
    (one process per blob, v1's way). Applies to every lab Dfdaemon the test starts."""
    from tests.e2e.dfdaemon_support.lab import Dfdaemon

    Dfdaemon.default_dfpath = shutil.which("dfget") if request.param == "dfpath" else None
    yield request.param
    Dfdaemon.default_dfpath = None


@pytest.fixture(scope="session")
def go_dfget(tmp_path_factory):
    """The real v1.0.6 Go dfget, unpacked once per run; the test skips with the reason when absent."""
    try:
        return os.path.join(v1go.unpack(str(tmp_path_factory.mktemp("v1go"))), "dfget")
    except v1go.V1GoUnavailable as e:
        pytest.skip(str(e))
