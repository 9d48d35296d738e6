"""Scenario: an image pushed to a real registry is preheated into a real supernode; every layer
becomes a supernode task, and a v1 client then gets a layer from the supernode while the registry
is not asked for that blob again."""

import uuid

import pytest
import requests

from tests.support.procs import wait_until
from tests.support.registry import blob_requests, push_image, registry_binary, start_registry
from tests.support.v1client import V1Client

NAME, TAG = "e2e/preheat", "v1"


@pytest.fixture
def registry(tmp_path):
    if registry_binary() is None:
        msg = "docker-registry is not installed (apt-get install -y docker-registry): skipping the registry e2e"
        print(msg)
        pytest.skip(msg)
    proc, base = start_registry(tmp_path)
    yield proc, base
    proc.stop()


def test_image_preheat_puts_every_layer_into_the_supernode(supernode, registry):
    proc, base = registry
    image = push_image(base, NAME, TAG, [3 * 1024 * 1024 + 17, 200 * 1024])
    r = requests.post(supernode.api_url + "/preheats", json={"type": "image", "url": image["manifest_url"]}, timeout=10)
    assert r.status_code == 201, r.text
    pid = r.json()["ID"]

    def finished():
        got = requests.get(f"{supernode.api_url}/preheats/{pid}", timeout=5).json()
        return got if got["status"] in ("SUCCESS", "FAILED") else None

    got = wait_until(finished, 60, "the image preheat to finish", interval=0.2)
    assert got["status"] == "SUCCESS", got

    tasks = {t["rawURL"]: t for t in requests.get(supernode.api_url + "/api/v1/tasks", timeout=5).json()}
    for digest, blob in image["layers"]:
        task = tasks[f"{base}/v2/{NAME}/blobs/{digest}"]
        assert task["cdnStatus"] == "SUCCESS" and task["httpFileLength"] == len(blob)
    again = requests.post(
        supernode.api_url + "/api/v1/preheats", json={"type": "image", "url": image["manifest_url"]}, timeout=10
    )
    assert again.status_code == 208 and again.json()["message"] == f"preheat task already exists, id:{pid}"

    digest, blob = image["layers"][0]
    before = blob_requests(proc.output(), digest)
    assert [line for line in before if '"GET ' in line], "the CDN fetched the layer from the registry"
    data, _ = V1Client(supernode.api_url, name="layer").download(f"{base}/v2/{NAME}/blobs/{digest}")
    assert data == blob
    # The registry logs requests in order: once a marker request made after the download is in the
    # log, every request of the download is too (a wait on an event, not on the clock).
    marker = f"/v2/flush-marker-{uuid.uuid4().hex}"
    requests.get(base + marker, timeout=10)
    wait_until(lambda: marker in proc.output(), 60, "the registry to log the marker request")
    assert blob_requests(proc.output(), digest) == before, "the registry was asked for the layer again"
