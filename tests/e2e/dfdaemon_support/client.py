"""A small registry client that pulls like docker does, for scenarios dockerd cannot drive.

It follows docker's sequence (`GET /v2/`, answer the challenge, `HEAD` the tag's manifest, `GET`
the manifest by digest, the config, then the layers three at once), sends `Authorization: Basic`
once the ping's `WWW-Authenticate: Basic` challenge asked for it (docker's basic-auth handler does
the same), and checks every blob against its digest. Through dfdaemon used as an HTTPS proxy
(`proxy=`), requests' CONNECT goes to dfdaemon, which decrypts it with a certificate signed by its
own CA (`verify=` that CA).
"""

import base64
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

MANIFEST_ACCEPT = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
]


class PullRefused(Exception):
    def __init__(self, status: int, url: str, body: bytes):
        super().__init__(f"{url} answered {status}")
        self.status, self.url, self.body = status, url, body


@dataclass
class Pulled:
    manifest: dict
    layer_digests: "list[str]"
    blobs: "dict[str, bytes]" = field(default_factory=dict)
    first_byte: "dict[str, float]" = field(default_factory=dict)  # seconds from request to first body byte
    seconds: float = 0.0


class RegistryClient:
    def __init__(self, base: str, auth=None, proxy: "str | None" = None, verify=True):
        self.base = base.rstrip("/")
        self.auth = auth
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = verify
        if proxy:
            self.session.proxies = {"http": proxy, "https": proxy}
        self.authorization = None

    def _headers(self, extra=None) -> dict:
        h = dict(extra or {})
        if self.authorization:
            h["Authorization"] = self.authorization
        return h

    def ping(self) -> None:
        r = self.session.get(self.base + "/v2/", timeout=30)
        if r.status_code == 401 and "basic" in r.headers.get("WWW-Authenticate", "").lower() and self.auth:
            self.authorization = "Basic " + base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            r = self.session.get(self.base + "/v2/", headers=self._headers(), timeout=30)
        if r.status_code != 200:
            raise PullRefused(r.status_code, self.base + "/v2/", r.content)

    def manifest(self, name: str, tag: str) -> dict:
        accept = {"Accept": ", ".join(MANIFEST_ACCEPT)}
        url = f"{self.base}/v2/{name}/manifests/{tag}"
        r = self.session.head(url, headers=self._headers(accept), timeout=30)
        if r.status_code != 200:
            raise PullRefused(r.status_code, url, b"")
        digest = r.headers["Docker-Content-Digest"]
        url = f"{self.base}/v2/{name}/manifests/{digest}"
        r = self.session.get(url, headers=self._headers(accept), timeout=30)
        if r.status_code != 200:
            raise PullRefused(r.status_code, url, r.content)
        assert "sha256:" + hashlib.sha256(r.content).hexdigest() == digest, "manifest digest mismatch"
        return r.json()

    def blob(self, name: str, digest: str) -> "tuple[bytes, float]":
        """(the verified blob, seconds to its first body byte)."""
        url = f"{self.base}/v2/{name}/blobs/{digest}"
        started = time.monotonic()
        with self.session.get(url, headers=self._headers(), stream=True, timeout=120) as r:
            if r.status_code != 200:
                raise PullRefused(r.status_code, url, r.raw.read(1 << 20, decode_content=False))
            parts, first = [], None
            for chunk in r.raw.stream(256 * 1024, decode_content=False):
                if first is None:
                    first = time.monotonic() - started
                parts.append(chunk)
        data = b"".join(parts)
        got = "sha256:" + hashlib.sha256(data).hexdigest()
        if got != digest:
            raise AssertionError(f"{url}: body digest {got}")
        return data, first if first is not None else time.monotonic() - started

    def pull(self, name: str, tag: str) -> Pulled:
        started = time.monotonic()
        self.ping()
        m = self.manifest(name, tag)
        config, _ = self.blob(name, m["config"]["digest"])
        layers = [layer["digest"] for layer in m["layers"]]
        out = Pulled(m, layers, {m["config"]["digest"]: config})
        with ThreadPoolExecutor(3) as pool:
            for digest, (data, first) in zip(layers, pool.map(lambda d: self.blob(name, d), layers), strict=True):
                out.blobs[digest], out.first_byte[digest] = data, first
        out.seconds = time.monotonic() - started
        return out
