"""Scenarios against a real gunicorn supernode and a real origin, with a client that speaks
exactly like v1's dfget."""

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.v1client import V1Client

pytestmark = pytest.mark.e2e
MIB = 1024 * 1024


def test_ping_version_and_prefixed_routes(supernode):
    pings = 'dragonfly_supernode_http_requests_total{code="200",handler="/_ping"}'
    before = supernode.metric(pings)
    assert requests.get(supernode.api_url + "/_ping", timeout=5).text == "OK"
    assert requests.get(supernode.api_url + "/v1.24/_ping", timeout=5).text == "OK"
    assert requests.get(supernode.api_url + "/version", timeout=5).json()["Version"] == "1.0.6"
    assert supernode.metric(pings) == before + 2  # the version prefix counts under the plain route
    assert "dragonfly_supernode_build_info{" in supernode.metrics()


def test_v1_client_downloads_a_multi_piece_file_and_reaches_600(supernode, origin):
    content = os.urandom(5 * MIB + 12345)
    (origin.root / "big.bin").write_bytes(content)
    data, finish = V1Client(supernode.api_url).download(origin.url + "/big.bin")
    assert hashlib.sha256(data).digest() == hashlib.sha256(content).digest()
    assert finish["md5"] == hashlib.md5(content).hexdigest()


def test_v1_scenario_small_and_empty_files(supernode, origin):
    (origin.root / "normal.txt").write_bytes(b"hello Dragonfly")
    (origin.root / "empty.txt").write_bytes(b"")
    assert V1Client(supernode.api_url).download(origin.url + "/normal.txt")[0] == b"hello Dragonfly"
    assert V1Client(supernode.api_url).download(origin.url + "/empty.txt")[0] == b""


def test_missing_source_is_607_not_a_500(supernode, origin):
    answer = V1Client(supernode.api_url).register(origin.url + "/notExist.txt")
    assert answer["code"] == 607


def test_fifty_concurrent_registrations_cause_exactly_one_source_download(supernode, origin):
    content = os.urandom(3 * MIB)
    (origin.root / "crowd.bin").write_bytes(content)
    url = origin.url + "/crowd.bin"
    clients = [V1Client(supernode.api_url, name=f"c{i}") for i in range(50)]
    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda c: c.register(url), clients))
    assert all(a["code"] == 200 for a in answers), answers[:3]
    assert len({a["data"]["taskId"] for a in answers}) == 1
    data, _ = clients[0].download(url)
    assert data == content
    stats = origin.stats()
    assert stats["gets"].get("/crowd.bin") == 1
    assert stats["bytes"]["/crowd.bin"] == len(content)


def test_download_port_serves_only_registered_tasks(supernode, origin):
    (origin.root / "f.txt").write_bytes(b"x" * 100)
    client = V1Client(supernode.api_url)
    data, _ = client.download(origin.url + "/f.txt")
    assert data == b"x" * 100
    fake = "0" * 64
    assert (
        requests.get(
            f"{supernode.download_url}/download/000/{fake}", headers={"Range": "bytes=0-9"}, timeout=5
        ).status_code
        == 404
    )
    assert requests.get(f"{supernode.download_url}/download/../etc/passwd", timeout=5).status_code == 404
