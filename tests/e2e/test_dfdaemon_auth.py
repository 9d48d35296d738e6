"""Scenario: a private registry (docker-registry with htpasswd basic auth) behind dfdaemon.

Host 1 has credentials: its docker (a real dockerd whose CLI config holds the Hub entry a
`docker login` would have written; the mirror answers with the registry's Basic challenge and
docker sends `Authorization: Basic` to the mirror) pulls through dfdaemon, and the layers go
through dfget and the supernode's CDN. Where dockerd cannot start, a Python client doing docker's
request sequence with the same header does the pull and the test says so.

Host 3, with its own valid credentials, is admitted to the same (cached) tasks.
Host 2 (its own dfdaemon and dfget home) has no valid credentials and must not get any byte of a
private layer: not from the registry (dfdaemon relays the registry's 401), not from the
supernode (its dfget is refused registration with 608, docs/decisions.md #9), not from the supernode's
CDN file by URL (404 to a host with no admitted client), not from host 1's upload server.
"""

import base64
import hashlib
import http.client
import os
import pathlib
import shutil
import subprocess
import warnings

import pytest
import requests

from tests.e2e.dfdaemon_support.client import PullRefused, RegistryClient
from tests.e2e.dfdaemon_support.images import build_image, push
from tests.e2e.dfdaemon_support.lab import Dfdaemon, Docker, end_pid, start_registry, write_htpasswd

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dfdaemon_mode")]
USER, PASSWORD = "alice", "wonderland"
PEER_BYTES = "dragonfly_supernode_pieces_downloaded_from_peers_size_bytes_total"
CDN_BYTES = "dragonfly_supernode_cdn_download_size_bytes_total"
NAME = "library/private"


@pytest.fixture
def lab(tmp_path, ended_by_pid):
    class Lab:
        tmp = str(tmp_path)
        add = staticmethod(ended_by_pid)

    return Lab


def supernode_log(supernode) -> str:
    texts = []
    for root, _, files in os.walk(supernode.home_dir):
        texts += [pathlib.Path(os.path.join(root, f)).read_text(errors="replace") for f in files if f.endswith(".log")]
    out = os.path.join(os.path.dirname(str(supernode.home_dir)), "supernode.out")
    if os.path.exists(out):
        texts.append(pathlib.Path(out).read_text(errors="replace"))
    return "\n".join(texts)


def get_from(source_ip: str, url: str) -> "tuple[int, bytes]":
    """GET with a chosen loopback source address (another "host" on 127.0.0.0/8)."""
    from urllib.parse import urlsplit

    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10, source_address=(source_ip, 0))
    try:
        conn.request("GET", u.path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_private_layers_reach_only_hosts_with_credentials(lab, supernode, tmp_path):
    htpasswd = write_htpasswd(str(tmp_path / "htpasswd"), {USER: PASSWORD})
    proc, registry = start_registry(str(tmp_path), htpasswd=htpasswd)
    lab.add(proc)
    image = build_image(3, layer_size=1024 * 1024)
    push(registry, NAME, "1", image, auth=(USER, PASSWORD))
    layer = image.layer_digests[0]
    assert requests.get(f"{registry}/v2/{NAME}/blobs/{layer}", timeout=10).status_code == 401
    node = f"127.0.0.1:{supernode.api_port}"

    # --- host 1, with credentials: the pull works and goes through dfget
    first = lab.add(Dfdaemon(str(tmp_path), "host1", registry, node))
    try:
        docker = lab.add(Docker(str(tmp_path), "docker1", first.port, auth=(USER, PASSWORD)))
    except Exception as e:  # noqa: BLE001 - say so loudly and pull like docker instead
        docker = None
        msg = f"dockerd cannot start here ({e!s:.300}); pulling with the Python registry client"
        print(f"\n*** {msg}")
        warnings.warn(msg, stacklevel=1)
    if docker is not None:
        assert docker.pull("private:1") == image.diff_ids
    else:
        pulled = RegistryClient(first.url, auth=(USER, PASSWORD)).pull(NAME, "1")
        assert pulled.layer_digests == image.layer_digests
    tasks = requests.get(supernode.api_url + "/api/v1/tasks", timeout=5).text
    for digest in image.layer_digests:
        assert f"/v2/{NAME}/blobs/{digest}" in tasks, tasks
    assert first.metric('dragonfly_dfdaemon_layer_requests_total{via="dfget"}') >= 3
    assert first.metric("dragonfly_dfdaemon_fallbacks_total") == 0, first.logs()[-3000:]
    task_ids = [
        t["ID"] for t in requests.get(supernode.api_url + "/api/v1/tasks", timeout=5).json() if layer in t["rawURL"]
    ]
    assert task_ids, tasks

    # --- host 2, without (valid) credentials: 401 from dfdaemon, no layer byte, no dfget run
    second = lab.add(Dfdaemon(str(tmp_path), "host2", registry, node))
    peer_bytes, cdn_bytes = supernode.metric(PEER_BYTES), supernode.metric(CDN_BYTES)
    secrets = [blob[:4096] for _, blob in image.layers]
    bad = "Basic " + base64.b64encode(f"{USER}:guess".encode()).decode()
    for headers in ({}, {"Authorization": bad}):
        for digest in image.layer_digests:
            r = requests.get(f"{second.url}/v2/{NAME}/blobs/{digest}", headers=headers, timeout=30)
            assert r.status_code == 401, (headers, r.status_code, r.content[:200])
            assert not any(s[:64] in r.content for s in secrets)
    # nor from host 1's dfdaemon, which holds the finished layers (kept for docker's Range retries)
    for headers in ({}, {"Authorization": bad}, {"Range": "bytes=0-"}):
        r = requests.get(f"{first.url}/v2/{NAME}/blobs/{layer}", headers=headers, timeout=30)
        assert r.status_code == 401 and not any(s[:64] in r.content for s in secrets), (headers, r.status_code)
    with pytest.raises(PullRefused) as refused:
        RegistryClient(second.url).pull(NAME, "1")
    assert refused.value.status == 401
    assert second.metric("dragonfly_dfdaemon_dfget_tasks_started_total") == 0
    if docker is not None:  # and a real docker on host 2, logged in nowhere, fails the pull
        docker2 = lab.add(Docker(str(tmp_path), "docker2", second.port))
        res = docker2.cli("pull", "private:1", timeout=60)
        assert res.returncode != 0, res.stdout
        assert docker2.cli("image", "inspect", "private:1").returncode != 0

    # --- host 2's dfget asks the supernode directly (no credentials, then wrong ones): 608
    url = f"{registry}/v2/{NAME}/blobs/{layer}"
    for extra in ([], ["--header", f"Authorization: {bad}"]):
        out = tmp_path / f"stolen-{len(extra)}"
        res = subprocess.run(
            [
                shutil.which("dfget"),
                "-u",
                url,
                "-o",
                str(out),
                "--home",
                second.home,
                "--node",
                node,
                "--notbs",
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode != 0, res.stdout + res.stderr
        assert not out.exists() or hashlib.sha256(out.read_bytes()).hexdigest() != layer.split(":")[1]
        if out.exists():
            assert not any(s[:64] in out.read_bytes() for s in secrets)
    log = supernode_log(supernode)
    refusals = [line for line in log.splitlines() if "register task=" in line and "code=608" in line]
    assert len(refusals) >= 2, log[-3000:]
    assert supernode.metric(PEER_BYTES) == peer_bytes, "a peer served pieces to a refused host"
    assert supernode.metric(CDN_BYTES) == cdn_bytes

    # --- host 3, with its own valid credentials, is admitted to the same tasks
    third = lab.add(Dfdaemon(str(tmp_path), "host3", registry, node))
    pulled = RegistryClient(third.url, auth=(USER, PASSWORD)).pull(NAME, "1")
    assert [pulled.blobs[d] for d in image.layer_digests] == [b for _, b in image.layers]
    assert third.metric('dragonfly_dfdaemon_layer_requests_total{via="dfget"}') >= 3
    assert third.metric("dragonfly_dfdaemon_fallbacks_total") == 0, third.logs()[-3000:]

    # --- the CDN file by URL: 404 to a host (127.0.0.2) with no admitted client on the task
    for tid in task_ids:
        cdn_url = f"{supernode.download_url}/download/{tid[:3]}/{tid}"
        status, body = get_from("127.0.0.2", cdn_url)
        assert status == 404 and not any(s[:64] in body for s in secrets), status
        assert get_from("127.0.0.1", cdn_url)[0] == 200  # host 1 (admitted) still can


def test_the_task_list_does_not_show_registry_credentials(supernode, tmp_path):
    htpasswd = write_htpasswd(str(tmp_path / "htpasswd"), {USER: PASSWORD})
    proc, registry = start_registry(str(tmp_path), htpasswd=htpasswd)
    home = tmp_path / "host1"
    try:
        image = build_image(1, layer_size=64 * 1024)
        push(registry, NAME, "1", image, auth=(USER, PASSWORD))
        basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        res = subprocess.run(
            [
                shutil.which("dfget"),
                "-u",
                f"{registry}/v2/{NAME}/blobs/{image.layer_digests[0]}",
                "-o",
                str(tmp_path / "layer"),
                "--home",
                str(home),
                "--node",
                f"127.0.0.1:{supernode.api_port}",
                "--header",
                f"Authorization: {basic}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == 0, res.stdout + res.stderr
        listing = requests.get(supernode.api_url + "/api/v1/tasks", timeout=5).text
        assert basic.split()[1] not in listing, listing[:600]
    finally:
        proc.stop()
        pid_file = home / "meta" / "uploader.pid"
        if pid_file.exists() and pid_file.read_text().strip():
            end_pid(int(pid_file.read_text().strip()))
