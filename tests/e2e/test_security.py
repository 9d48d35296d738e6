"""Nobody let in (RELIABILITY.md): docs/decisions.md #9's per-peer credential check end to end, and the
download port and the upload server never serving a file that is not a registered task's."""

import base64
import hashlib
import os
import socket

import pytest
import requests

from common import digest as task_digest
from common.protocol import paths
from tests.support.dfget_runs import DfgetRunner
from tests.support.procs import START_DEADLINE, start_origin, wait_until
from tests.support.v1client import V1Client

pytestmark = pytest.mark.e2e
MIB = 1024 * 1024
AUTH = "Basic " + base64.b64encode(b"alice:wonderland").decode()


def raw_get(port: int, path: str, source_ip: str, headers: "dict[str, str]") -> bytes:
    """A GET from another loopback address (another host, as far as the server can tell)."""
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"] + [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source_ip, 0)) as c:
        c.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        out = b""
        while chunk := c.recv(65536):
            out += chunk
    return out


@pytest.fixture
def private_origin(tmp_path, origin_dir):
    proc, port = start_origin(str(origin_dir), str(tmp_path / "private-origin.log"), "--auth", AUTH)
    yield f"http://127.0.0.1:{port}", origin_dir
    proc.stop()


def test_credentials_stay_with_their_owner(tmp_path, supernode, private_origin):
    base, root = private_origin
    content = os.urandom(3 * MIB)
    (root / "private.bin").write_bytes(content)
    url = base + "/private.bin"
    runner = DfgetRunner(tmp_path, node=f"127.0.0.1:{supernode.api_port}")
    try:
        owner = runner.run(
            "-u", url, "-o", str(tmp_path / "owner"), "--notbs", "--header", f"Authorization: {AUTH}", home="owner"
        )
        assert owner.returncode == 0, owner.stdout + owner.stderr
        assert (tmp_path / "owner").read_bytes() == content

        # the same URL without credentials: refused, and no bytes from the CDN or from the owner
        intruder = runner.run("-u", url, "-o", str(tmp_path / "intruder"), "--notbs", home="intruder")
        assert intruder.returncode != 0
        assert not (tmp_path / "intruder").exists()
        wrong = runner.run(
            "-u",
            url,
            "-o",
            str(tmp_path / "wrong"),
            "--notbs",
            "--header",
            "Authorization: Basic bWFsbG9yeTp4",
            home="wrong",
        )
        assert wrong.returncode != 0 and not (tmp_path / "wrong").exists()

        anonymous = V1Client(supernode.api_url, name="anon", ip="127.0.0.3")
        assert anonymous.register(url)["code"] == 608  # NeedAuth
        task_id = task_digest.task_id(url, "", "", {})
        assert anonymous.pull(task_id)["code"] == 502  # not a client of the task

        # the task id is computable from the URL: the download port still refuses other hosts
        cdn_path = f"/download/{task_id[:3]}/{task_id}"
        answer = raw_get(supernode.download_port, cdn_path, "127.0.0.3", {"Range": "bytes=0-1048575"})
        assert answer.startswith(b"HTTP/1.1 404") and content[:1000] not in answer
        # ...while the owner's host is served
        assert raw_get(supernode.download_port, cdn_path, "127.0.0.1", {}).startswith(b"HTTP/1.1 200")
    finally:
        runner.stop_all()


def test_the_download_port_serves_only_registered_tasks(supernode, origin):
    (origin.root / "public.bin").write_bytes(os.urandom(MIB))
    url = origin.url + "/public.bin"
    data, _ = V1Client(supernode.api_url).download(url)
    task_id = task_digest.task_id(url, "", "", {})
    dl = supernode.download_url
    assert requests.get(f"{dl}/download/{task_id[:3]}/{task_id}", timeout=5).status_code == 200
    other = hashlib.sha256(b"never registered").hexdigest()
    (supernode.home_dir / "repo" / "download" / other[:3]).mkdir(parents=True, exist_ok=True)
    (supernode.home_dir / "repo" / "download" / other[:3] / other).write_bytes(b"planted")
    for path in (
        f"/download/{other[:3]}/{other}",  # on disk, never registered
        f"/download/{task_id[:2]}/{task_id}",  # wrong prefix
        f"/download/{task_id[:3]}/{task_id}.meta",  # the CDN's records
        f"/download/{task_id[:3]}/{task_id}.md5",
        "/download/../../etc/passwd",
        "/download/%2e%2e/%2e%2e/etc/passwd",
        "/repo/download",
        "/etc/passwd",
    ):
        r = requests.get(dl + path, timeout=5)
        assert r.status_code == 404 and b"planted" not in r.content and b"root:" not in r.content, path
    # deleted (full) -> no longer served
    token_free = requests.delete(f"{supernode.api_url}/api/v1/tasks/{task_id}?full=true", timeout=5)
    assert token_free.status_code == 200
    assert requests.get(f"{dl}/download/{task_id[:3]}/{task_id}", timeout=5).status_code == 404


def test_an_upload_server_serves_only_its_registered_task_files(tmp_path, supernode, origin):
    (origin.root / "shared.bin").write_bytes(os.urandom(2 * MIB))
    runner = DfgetRunner(tmp_path, node=f"127.0.0.1:{supernode.api_port}")
    try:
        done = runner.run("-u", origin.url + "/shared.bin", "-o", str(tmp_path / "out"), home="peer")
        assert done.returncode == 0
        port = runner.upload_port("peer")
        assert port
        # the server may still be starting on a busy machine (the port is live: dfget bound it)
        wait_until(
            lambda: requests.get(f"http://127.0.0.1:{port}{paths.UPLOAD_PING}", timeout=5).ok,
            START_DEADLINE,
            "the upload server to answer",
        )
        data_dir = tmp_path / "dfget-homes" / "peer" / "data"
        (data_dir / "planted.service").write_bytes(b"PLANTED-BYTES")  # in the data dir, never registered
        (tmp_path / "dfget-homes" / "peer" / "secret.service").write_bytes(b"SECRET-BYTES")
        base = f"http://127.0.0.1:{port}"
        headers = {"Range": "bytes=0-100", "pieceNum": "0", "pieceSize": str(MIB)}
        for path in (
            "/peer/file/planted",
            "/peer/file/..%2fsecret",
            "/peer/file/../secret",
            "/peer/file/%2e%2e%2f%2e%2e%2fmeta%2fhost.meta",
            "/peer/file/",
            "/meta/host.meta",
        ):
            r = requests.get(base + path, headers=headers, timeout=5)
            assert 400 <= r.status_code < 500, path
            assert b"PLANTED-BYTES" not in r.content and b"SECRET-BYTES" not in r.content, path
    finally:
        runner.stop_all()
