"""dfdaemon's in-process downloads with real processes (docs/architecture.md#dfdaemon-the-path-of-one-blob):
no dfget process per blob, and one upload server per host, shared with any dfget of the same home."""

import hashlib
import os
import shutil
import subprocess

import pytest
import requests

from dfget.uploader import meta
from tests.e2e.dfdaemon_support.images import build_image, push
from tests.e2e.dfdaemon_support.lab import Dfdaemon, start_registry
from tests.support.dfget_runs import end_pids, upload_server_pids

pytestmark = pytest.mark.e2e


def child_commands(pid: int) -> "list[list[str]]":
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                children = f.read().split()
        except OSError:  # that thread ended meanwhile
            continue
        for child in children:
            try:
                with open(f"/proc/{child}/cmdline", "rb") as c:
                    out.append(c.read().decode(errors="replace").split("\0"))
            except OSError:
                continue
    return out


def test_dfdaemon_and_a_dfget_of_its_home_share_one_upload_server(tmp_path, supernode, origin, ended_by_pid):
    proc, registry = start_registry(str(tmp_path))
    ended_by_pid(proc)
    image = build_image(2)
    push(registry, "library/epsilon", "1", image)
    node = f"127.0.0.1:{supernode.api_port}"
    daemon = ended_by_pid(Dfdaemon(str(tmp_path), "host1", registry, node))
    try:
        for digest, _blob in image.layers:
            r = requests.get(f"{daemon.url}/v2/library/epsilon/blobs/{digest}", timeout=60)
            assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == digest.split(":")[1]
        assert daemon.metric('dragonfly_dfdaemon_layer_requests_total{via="dfget"}') == 2
        assert daemon.metric("dragonfly_dfdaemon_fallbacks_total") == 0, daemon.logs()[-3000:]
        # no dfget ran as a process: the only child is the host's upload server
        children = child_commands(daemon.proc.pid)
        assert not any("-u" in argv for argv in children), children
        meta_path = os.path.join(daemon.home, "meta", "host.meta")
        port = meta.read_port(meta_path)
        [server] = upload_server_pids(daemon.home)
        assert port > 0
        # a dfget of the same home uses that server: no second one, the same port
        (origin.root / "file.bin").write_bytes(os.urandom(2 * 1024 * 1024))
        out = tmp_path / "file.bin"
        done = subprocess.run(
            [
                shutil.which("dfget"),
                "-u",
                origin.url + "/file.bin",
                "-o",
                str(out),
                "--home",
                daemon.home,
                "--node",
                node,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert out.read_bytes() == (origin.root / "file.bin").read_bytes()
        assert meta.read_port(meta_path) == port
        assert upload_server_pids(daemon.home) == [server]
    finally:
        daemon.stop()
        end_pids(upload_server_pids(daemon.home))
