"""Container images built without docker: random-content gzip layers, a config, a schema2
manifest, pushed to a registry over the v2 API (no image from the internet)."""

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass

import requests

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Image:
    layers: "list[tuple[str, bytes]]"  # (digest of the gzip blob, blob)
    diff_ids: "list[str]"  # sha256 of the uncompressed tars
    config: bytes
    manifest: bytes

    @property
    def layer_digests(self) -> "list[str]":
        return [d for d, _ in self.layers]

    @property
    def config_digest(self) -> str:
        return sha256(self.config)


def make_layer(index: int, size: int) -> "tuple[bytes, bytes]":
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = os.urandom(size)
        info = tarfile.TarInfo(f"layer{index}/random.bin")
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return tar_bytes, gzip.compress(tar_bytes, mtime=0)


def build_image(n_layers: int = 3, layer_size: int = 3 * 1024 * 1024) -> Image:
    layers, diff_ids = [], []
    for i in range(n_layers):
        tar_bytes, gz = make_layer(i, layer_size + i * 4096)
        layers.append((sha256(gz), gz))
        diff_ids.append(sha256(tar_bytes))
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/true"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": f"layer {i}"} for i in range(n_layers)],
        },
        separators=(",", ":"),
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": {"mediaType": CONFIG_V1, "size": len(config), "digest": sha256(config)},
            "layers": [{"mediaType": LAYER_GZIP, "size": len(b), "digest": d} for d, b in layers],
        },
        indent=3,
    ).encode()
    return Image(layers, diff_ids, config, manifest)


def push(registry: str, name: str, tag: str, image: Image, auth=None, verify=True) -> None:
    """`auth`: (user, password) for a registry with basic auth; `verify`: its CA file over HTTPS."""
    s = requests.Session()
    s.trust_env = False
    s.auth, s.verify = auth, verify
    for digest, blob in [*image.layers, (image.config_digest, image.config)]:
        r = s.post(f"{registry}/v2/{name}/blobs/uploads/", timeout=30)
        assert r.status_code == 202, r.text
        loc = r.headers["Location"]
        loc = loc if loc.startswith("http") else registry + loc
        r = s.put(
            loc + ("&" if "?" in loc else "?") + f"digest={digest}",
            data=blob,
            headers={"Content-Type": "application/octet-stream"},
            timeout=30,
        )
        assert r.status_code == 201, r.text
    r = s.put(
        f"{registry}/v2/{name}/manifests/{tag}", data=image.manifest, headers={"Content-Type": MANIFEST_V2}, timeout=30
    )
    assert r.status_code == 201, r.text
