"""Scenarios: docker pulls images through dfdaemon (real registry, supernode, dfget, dfdaemon, dockerd).

Where dockerd cannot start, the pulls are done with `skopeo copy` through the same mirror and the
test says so on its output (never a silent skip).
"""

import warnings

import pytest
import requests

from tests.e2e.dfdaemon_support.images import build_image, push
from tests.e2e.dfdaemon_support.lab import Dfdaemon, Docker, skopeo_pull, start_registry
from tests.support.procs import free_port, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dfdaemon_mode")]
PEER_BYTES = "dragonfly_supernode_pieces_downloaded_from_peers_size_bytes_total"


@pytest.fixture
def lab(tmp_path, ended_by_pid):

    class Lab:
        tmp = str(tmp_path)

        @staticmethod
        def registry():
            proc, url = start_registry(str(tmp_path))
            ended_by_pid(proc)
            return url

        @staticmethod
        def dfdaemon(name, registry, node):
            return ended_by_pid(Dfdaemon(str(tmp_path), name, registry, node))

        @staticmethod
        def puller(name, daemon):
            """pull(ref) -> what the client verified: docker's diff ids, or skopeo's layer digests."""
            try:
                docker = ended_by_pid(Docker(str(tmp_path), name, daemon.port))
                return "docker", docker.pull
            except Exception as e:  # noqa: BLE001 - say so loudly and use skopeo instead
                msg = f"dockerd cannot start here ({e!s:.300}); pulling with `skopeo copy` through the mirror"
                print(f"\n*** {msg}")
                warnings.warn(msg, stacklevel=1)
                return "skopeo", lambda ref: skopeo_pull(str(tmp_path), daemon.port, ref)

    return Lab


def expected(kind, image):
    return image.diff_ids if kind == "docker" else image.layer_digests


def test_docker_pull_goes_through_dfget_and_the_supernode(lab, supernode):
    registry = lab.registry()
    image = build_image(3)
    push(registry, "library/alpha", "1", image)
    daemon = lab.dfdaemon("host1", registry, f"127.0.0.1:{supernode.api_port}")
    kind, pull = lab.puller("docker1", daemon)
    assert pull("alpha:1" if kind == "docker" else "library/alpha:1") == expected(kind, image)
    urls = requests.get(supernode.api_url + "/api/v1/tasks", timeout=5).text
    for digest in image.layer_digests:
        assert f"/v2/library/alpha/blobs/{digest}" in urls, urls
    assert "/manifests/" not in urls
    # the console names the layers after the image and tag that was pulled (dfdaemon -> dfget -> supernode)
    tasks = requests.get(supernode.api_url + "/api/v1/console/snapshot", timeout=5).json()["tasks"]
    assert len(tasks) >= 3 and all(t["name"] == "library/alpha:1" for t in tasks), [t["name"] for t in tasks]
    assert daemon.metric('dragonfly_dfdaemon_layer_requests_total{via="dfget"}') >= 3
    assert daemon.metric("dragonfly_dfdaemon_fallbacks_total") == 0, daemon.logs()[-3000:]


def test_a_second_host_gets_the_layers_from_the_first_peer(lab, supernode):
    registry = lab.registry()
    image = build_image(3)
    push(registry, "library/beta", "1", image)
    node = f"127.0.0.1:{supernode.api_port}"
    first = lab.dfdaemon("host1", registry, node)
    kind, pull1 = lab.puller("docker1", first)
    ref = "beta:1" if kind == "docker" else "library/beta:1"
    assert pull1(ref) == expected(kind, image)
    before = supernode.metric(PEER_BYTES)
    second = lab.dfdaemon("host2", registry, node)
    kind2, pull2 = lab.puller("docker2", second)
    assert pull2(ref) == expected(kind2, image)
    assert supernode.metric(PEER_BYTES) > before, "the second host fetched nothing from the first peer"
    assert second.metric("dragonfly_dfdaemon_fallbacks_total") == 0, second.logs()[-3000:]


def test_pull_still_succeeds_when_the_supernode_is_dead(lab):
    registry = lab.registry()
    image = build_image(3, layer_size=1024 * 1024)
    push(registry, "library/gamma", "1", image)
    daemon = lab.dfdaemon("host1", registry, f"127.0.0.1:{free_port()}")  # nothing listens there
    kind, pull = lab.puller("docker1", daemon)
    assert pull("gamma:1" if kind == "docker" else "library/gamma:1") == expected(kind, image)
    # and the operator is told that P2P is off, once, at start
    wait_until(
        lambda: "P2P is off for now: no supernode answers" in daemon.proc.output(),
        30,
        "dfdaemon's warning about its dead --node",
    )
