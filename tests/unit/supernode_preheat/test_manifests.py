"""supernode.core.manifests: every manifest media type, platform choice, token challenges."""

import json

import pytest

from common.errors import BadInput
from supernode.core import manifests as m

L1, L2, L3 = ("sha256:" + c * 64 for c in "abc")


def body(doc) -> bytes:
    return json.dumps(doc).encode()


def image_doc(media, layers, config="sha256:" + "f" * 64):
    return {
        "schemaVersion": 2,
        "mediaType": media,
        "config": {"digest": config, "size": 1},
        "layers": [{"mediaType": "x", "digest": d, "size": 1} for d in layers],
    }


def index_doc(media, entries):
    return {"schemaVersion": 2, "mediaType": media, "manifests": entries}


def entry(digest, os_="linux", arch="amd64", variant=None, **extra):
    plat = {"os": os_, "architecture": arch}
    if variant:
        plat["variant"] = variant
    return {"mediaType": m.DOCKER_MANIFEST, "digest": digest, "size": 1, "platform": plat, **extra}


@pytest.mark.parametrize("media", [m.DOCKER_MANIFEST, m.OCI_MANIFEST])
def test_image_manifests_list_their_layers_not_the_config(media):
    got = m.parse_manifest(body(image_doc(media, [L1, L2])), media + "; charset=utf-8")
    assert got.media_type == media and got.layers == (L1, L2) and not got.is_index


def test_media_type_from_the_body_or_the_shape_when_content_type_is_generic():
    assert (
        m.parse_manifest(body(image_doc(m.DOCKER_MANIFEST, [L1])), "application/json").media_type == m.DOCKER_MANIFEST
    )
    doc = image_doc(m.OCI_MANIFEST, [L1])
    del doc["mediaType"]
    assert m.parse_manifest(body(doc), "").media_type == m.OCI_MANIFEST
    idx = index_doc(m.OCI_INDEX, [entry(L1)])
    del idx["mediaType"]
    assert m.parse_manifest(body(idx), "").is_index


@pytest.mark.parametrize("media", [m.DOCKER_V1, m.DOCKER_V1_SIGNED])
def test_schema1_uses_blob_sums_once_each(media):
    doc = {"schemaVersion": 1, "fsLayers": [{"blobSum": L2}, {"blobSum": L1}, {"blobSum": L2}]}
    assert m.parse_manifest(body(doc), media).layers == (L2, L1)
    assert m.parse_manifest(body(doc), "text/plain").layers == (L2, L1)


def test_foreign_layers_are_skipped():
    doc = image_doc(m.DOCKER_MANIFEST, [L1, L2])
    doc["layers"][1]["mediaType"] = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    doc["layers"].append({"mediaType": "x", "digest": L3, "urls": ["https://elsewhere/"]})
    assert m.parse_manifest(body(doc), m.DOCKER_MANIFEST).layers == (L1,)


@pytest.mark.parametrize("media", [m.DOCKER_LIST, m.OCI_INDEX])
def test_lists_and_indexes_give_children_with_platforms(media):
    doc = index_doc(
        media,
        [
            entry(L1),
            entry(L2, arch="arm64", variant="v8"),
            entry(L3, "unknown", "unknown", annotations={"vnd.docker.reference.type": "attestation-manifest"}),
        ],
    )
    got = m.parse_manifest(body(doc), media)
    assert got.is_index and [c.digest for c in got.children] == [L1, L2, L3]
    assert got.children[1].platform == m.Platform("linux", "arm64", "v8")
    assert got.children[2].attestation
    assert [c.digest for c in m.choose(got.children, ())] == [L1, L2]  # all images, no attestations
    assert [c.digest for c in m.choose(got.children, m.parse_platforms("linux/arm64"))] == [L2]
    assert [c.digest for c in m.choose(got.children, m.parse_platforms("linux/arm64/v8,linux/amd64"))] == [L2, L1]
    with pytest.raises(m.ManifestError, match="no manifest for platform linux/s390x.*linux/amd64"):
        m.choose(got.children, m.parse_platforms("linux/s390x"))


def test_platform_parsing_and_matching():
    p = m.Platform.parse("Linux/ARM64")
    assert str(p) == "linux/arm64" and p.matches(m.Platform("linux", "arm64", "v8"))
    assert not m.Platform.parse("linux/arm64/v7").matches(m.Platform("linux", "arm64", "v8"))
    assert not p.matches(None)
    assert m.parse_platforms("") == ()
    for bad in ("linux", "a/b/c/d", "linux/amd 64"):
        with pytest.raises(BadInput):
            m.Platform.parse(bad)


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        body({"schemaVersion": 2}),
        body({"schemaVersion": 2, "mediaType": m.DOCKER_MANIFEST, "layers": [{"size": 1}]}),
        body({"schemaVersion": 2, "mediaType": m.OCI_INDEX, "manifests": [{}]}),
    ],
)
def test_broken_manifests_are_the_registrys_fault(raw):
    with pytest.raises(m.ManifestError):
        m.parse_manifest(raw, "")


def test_manifest_url():
    u = m.ManifestUrl.parse("https://reg:5000/v2/team/app/web/manifests/v1.2")
    assert (u.scheme, u.host, u.name, u.reference) == ("https", "reg:5000", "team/app/web", "v1.2")
    assert u.blob_url(L1) == f"https://reg:5000/v2/team/app/web/blobs/{L1}"
    assert u.manifest_url(L2) == f"https://reg:5000/v2/team/app/web/manifests/{L2}"
    assert u.pull_scope == "repository:team/app/web:pull"
    for bad in ("https://reg/v2/manifests/x", "https://reg/team/manifests/x", "https://reg/v2/a/manifests/x?y=1"):
        with pytest.raises(BadInput):
            m.ManifestUrl.parse(bad)


def test_bearer_challenge_to_token_url():
    ch = m.parse_challenge(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:library/alpine:pull"'
    )
    assert ch.token_url("ignored") == (
        "https://auth.example.com/token?service=registry.example.com&scope=repository%3Alibrary%2Falpine%3Apull"
    )
    bare = m.parse_challenge('bearer realm="http://a/token?x=1", service=reg')
    assert bare.token_url("repository:x:pull") == "http://a/token?x=1&service=reg&scope=repository%3Ax%3Apull"
    assert m.parse_challenge('Basic realm="x"') is None
    assert m.parse_challenge("Bearer service=x") is None
    assert m.parse_challenge("") is None


def test_token_body():
    assert m.token_from(b'{"token":"t1"}') == "t1"
    assert m.token_from(b'{"access_token":"t2"}') == "t2"
    for bad in (b"nope", b"{}", b'{"token": 3}'):
        with pytest.raises(m.ManifestError):
            m.token_from(bad)


def test_accept_lists_every_type_we_read():
    for media in m.INDEX_TYPES + m.IMAGE_TYPES + m.V1_TYPES:
        assert media in m.ACCEPT
