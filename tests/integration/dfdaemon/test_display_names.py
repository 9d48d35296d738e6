"""dfdaemon tells the supernode which image a layer belongs to (docs/operations.md#console): the
tag of the manifest pulled before it, in a registration header every dfget passes on."""

import requests

from common.protocol.messages import HEADER_DISPLAY_NAME


def display_headers(argv):
    return [argv[i + 1] for i, a in enumerate(argv) if a == "--header" and argv[i + 1].startswith(HEADER_DISPLAY_NAME)]


def test_a_layer_is_named_after_the_tag_its_manifest_was_pulled_by(harness, registry):
    digest = registry.add_blob(b"layer bytes" * 1000)
    d = harness.start()
    assert requests.get(f"{d.url}/v2/library/alpine/manifests/3.19", timeout=30).status_code == 200
    # the platform manifest, by digest, must not replace the tag
    requests.get(f"{d.url}/v2/library/alpine/manifests/sha256:{'a' * 64}", timeout=30)
    assert requests.get(f"{d.url}/v2/library/alpine/blobs/{digest}", timeout=30).status_code == 200
    [argv] = harness.calls()
    assert display_headers(argv) == [f"{HEADER_DISPLAY_NAME}: library/alpine:3.19"]


def test_a_tag_resolved_with_head_names_the_layers(harness, registry):
    digest = registry.add_blob(b"layer bytes" * 999)
    d = harness.start()
    requests.head(f"{d.url}/v2/library/busybox/manifests/1.36", timeout=30)  # what docker does
    assert requests.get(f"{d.url}/v2/library/busybox/blobs/{digest}", timeout=30).status_code == 200
    [argv] = harness.calls()
    assert display_headers(argv) == [f"{HEADER_DISPLAY_NAME}: library/busybox:1.36"]


def test_without_a_manifest_the_repository_names_the_layer(harness, registry):
    digest = registry.add_blob(b"other layer" * 1000)
    d = harness.start()
    assert requests.get(f"{d.url}/v2/team/app/blobs/{digest}", timeout=30).status_code == 200
    [argv] = harness.calls()
    assert display_headers(argv) == [f"{HEADER_DISPLAY_NAME}: team/app"]


def test_a_requester_cannot_smuggle_its_own_display_name(harness, registry):
    digest = registry.add_blob(b"third layer" * 1000)
    d = harness.start()
    r = requests.get(
        f"{d.url}/v2/team/app/blobs/{digest}", headers={HEADER_DISPLAY_NAME: "<script>x</script>"}, timeout=30
    )
    assert r.status_code == 200
    [argv] = harness.calls()
    assert display_headers(argv) == [f"{HEADER_DISPLAY_NAME}: team/app"]
