"""A real registry (Debian's `docker-registry`, distribution v2) for e2e tests, and an image pushed
over the v2 API without docker: random gzip layers, a config, a schema 2 manifest."""

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tarfile

import requests

from tests.support.procs import START_DEADLINE, Proc, free_port, wait_until

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def registry_binary() -> "str | None":
    return shutil.which("docker-registry")


def start_registry(tmp_path) -> "tuple[Proc, str]":
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(f"""version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {tmp_path / "registry-data"}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
""")
    proc = Proc([registry_binary(), "serve", str(config)], log_path=str(tmp_path / "registry.log"))
    base = f"http://127.0.0.1:{port}"

    def ready():
        if not proc.alive():
            raise RuntimeError(proc.output())
        return requests.get(base + "/v2/", timeout=1).status_code == 200

    wait_until(ready, START_DEADLINE, "docker-registry to answer /v2/")
    return proc, base


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_layer(size: int) -> "tuple[bytes, bytes]":
    """(gzip blob, uncompressed tar) of one random file."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("data/blob.bin")
        info.size, info.mtime = size, 0
        tar.addfile(info, io.BytesIO(os.urandom(size)))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), tar_bytes


def push_blob(base: str, name: str, data: bytes) -> str:
    digest = _digest(data)
    r = requests.post(f"{base}/v2/{name}/blobs/uploads/", timeout=10)
    assert r.status_code == 202, r.text
    location = r.headers["Location"]
    location = location if location.startswith("http") else base + location
    sep = "&" if "?" in location else "?"
    r = requests.put(
        f"{location}{sep}digest={digest}", data=data, timeout=30, headers={"Content-Type": "application/octet-stream"}
    )
    assert r.status_code == 201, r.text
    return digest


def push_image(base: str, name: str, tag: str, layer_sizes) -> dict:
    """Push an image; returns {"manifest_url", "layers": [(digest, gzip bytes)], "config"}."""
    layers = [make_layer(n) for n in layer_sizes]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [_digest(t) for _, t in layers]},
        }
    ).encode()
    config_digest = push_blob(base, name, config)
    pushed = [(push_blob(base, name, blob), blob) for blob, _ in layers]
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": len(config),
            "digest": config_digest,
        },
        "layers": [
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(b), "digest": d}
            for d, b in pushed
        ],
    }
    r = requests.put(
        f"{base}/v2/{name}/manifests/{tag}",
        data=json.dumps(manifest),
        timeout=10,
        headers={"Content-Type": DOCKER_MANIFEST},
    )
    assert r.status_code == 201, r.text
    return {"manifest_url": f"{base}/v2/{name}/manifests/{tag}", "layers": pushed, "config": config_digest}


def blob_requests(log_text: str, digest: str) -> "list[str]":
    """The access-log lines of GET/HEAD requests for one blob."""
    pattern = re.compile(r'"(GET|HEAD) [^"]*/blobs/' + re.escape(digest))
    return [line for line in log_text.splitlines() if pattern.search(line)]
