"""Registry knowledge for image preheat (docs/protocol.md#supernode-system-management-and-preheat): manifest URLs, media
types, manifest parsing,
platform choice and the Bearer token challenge. Pure: bytes and strings in, decisions out.

Formats read: Docker schema 2 manifests and manifest lists, OCI image manifests and indexes, and
schema 1 (`fsLayers[].blobSum`, de-duplicated). The kind comes from Content-Type, else from the
body's `mediaType`, else from its shape. Foreign / non-distributable layers (they are not in the
registry) and buildx attestation manifests (`unknown/unknown`) are skipped.
"""

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from common.errors import BadInput, DragonflyError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)
IMAGE_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
V1_TYPES = (DOCKER_V1, DOCKER_V1_SIGNED)
# What we ask for: lists and indexes first, so a multi-platform tag is seen as one.
ACCEPT = ", ".join((DOCKER_LIST, OCI_INDEX, DOCKER_MANIFEST, OCI_MANIFEST, DOCKER_V1_SIGNED, DOCKER_V1))

_MANIFEST_URL = re.compile(r"^(https?)://([^/?#]+)/v2/([^?#]+?)/manifests/([^/?#]+)$")
_PLATFORM = re.compile(r"^[a-z0-9._-]+/[a-z0-9._-]+(/[a-z0-9._-]+)?$")
_CHALLENGE_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)')
_ATTESTATION = "attestation-manifest"


class ManifestError(DragonflyError):
    """The registry answered something we cannot use (the registry's fault, not the caller's)."""


@dataclass(frozen=True)
class ManifestUrl:
    scheme: str
    host: str
    name: str
    reference: str

    @classmethod
    def parse(cls, url: str) -> "ManifestUrl":
        m = _MANIFEST_URL.match(url)
        if not m:
            raise BadInput(
                f"image preheat needs a manifest URL like <scheme>://<host>/v2/<name>/manifests/<ref>, got {url!r}",
                {"url": "not a manifest URL"},
            )
        return cls(*m.groups())

    def manifest_url(self, reference: str) -> str:
        return f"{self.scheme}://{self.host}/v2/{self.name}/manifests/{reference}"

    def blob_url(self, digest: str) -> str:
        return f"{self.scheme}://{self.host}/v2/{self.name}/blobs/{digest}"

    @property
    def pull_scope(self) -> str:
        return f"repository:{self.name}:pull"


@dataclass(frozen=True)
class Platform:
    os: str
    arch: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> "Platform":
        text = text.strip().lower()
        if not _PLATFORM.match(text):
            raise BadInput(
                f"platform must look like os/arch[/variant], got {text!r}", {"platform": "os/arch[/variant]"}
            )
        return cls(*text.split("/"))

    def matches(self, other: "Platform | None") -> bool:
        if other is None:
            return False
        return (self.os, self.arch) == (other.os, other.arch) and (not self.variant or self.variant == other.variant)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.arch, self.variant) if p)


def parse_platforms(text: str) -> "tuple[Platform, ...]":
    """ "linux/amd64,linux/arm64/v8" -> platforms; "" -> () (every platform of a list)."""
    return tuple(Platform.parse(p) for p in (text or "").split(",") if p.strip())


@dataclass(frozen=True)
class ChildManifest:
    digest: str
    media_type: str = ""
    platform: "Platform | None" = None
    attestation: bool = False


@dataclass(frozen=True)
class Manifest:
    media_type: str
    layers: "tuple[str, ...]" = ()
    children: "tuple[ChildManifest, ...]" = ()

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


def parse_manifest(body: bytes, content_type: str = "") -> Manifest:
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise ManifestError(f"manifest is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ManifestError("manifest is not a JSON object")
    kind = _kind(doc, content_type.split(";")[0].strip().lower())
    try:
        if kind in INDEX_TYPES:
            return Manifest(kind, children=tuple(_child(m) for m in doc.get("manifests") or []))
        if kind in V1_TYPES:
            return Manifest(kind, layers=_unique(layer["blobSum"] for layer in doc.get("fsLayers") or []))
        return Manifest(
            kind, layers=_unique(layer["digest"] for layer in doc.get("layers") or [] if not _foreign(layer))
        )
    except (KeyError, TypeError, AttributeError) as e:
        raise ManifestError(f"malformed {kind} manifest: missing or bad {e}") from None


def _kind(doc: dict[str, Any], content_type: str) -> str:
    known = INDEX_TYPES + IMAGE_TYPES + V1_TYPES
    if content_type in known:
        return content_type
    if doc.get("mediaType") in known:
        return str(doc["mediaType"])
    if doc.get("schemaVersion") == 1:
        return DOCKER_V1
    if "manifests" in doc:
        return OCI_INDEX
    if "layers" in doc:
        return OCI_MANIFEST
    raise ManifestError(f"unknown manifest type (Content-Type {content_type!r}, no mediaType)")


def _child(entry: dict[str, Any]) -> ChildManifest:
    plat = entry.get("platform") or {}
    platform = None
    if plat.get("os") and plat.get("architecture"):
        platform = Platform(
            str(plat["os"]).lower(), str(plat["architecture"]).lower(), str(plat.get("variant") or "").lower()
        )
    annotations = entry.get("annotations") or {}
    attestation = annotations.get("vnd.docker.reference.type") == _ATTESTATION or (
        platform is not None and platform.os == "unknown" and platform.arch == "unknown"
    )
    return ChildManifest(
        digest=entry["digest"], media_type=entry.get("mediaType", ""), platform=platform, attestation=attestation
    )


def _foreign(layer: dict[str, Any]) -> bool:
    return (
        "foreign" in str(layer.get("mediaType", ""))
        or "nondistributable" in str(layer.get("mediaType", ""))
        or bool(layer.get("urls"))
    )


def _unique(digests: Iterable[object]) -> "tuple[str, ...]":
    seen: dict[str, None] = {}
    for d in digests:
        if not isinstance(d, str) or not d:
            raise TypeError("digest")
        seen.setdefault(d, None)
    return tuple(seen)


def choose(children: "tuple[ChildManifest, ...]", platforms: "tuple[Platform, ...]") -> "list[ChildManifest]":
    """The child manifests to preheat: every image of the list, or those of the requested platforms."""
    images = [c for c in children if not c.attestation]
    if not platforms:
        return images
    chosen: list[ChildManifest] = []
    missing: list[str] = []
    for want in platforms:
        hits = [c for c in images if want.matches(c.platform)]
        if not hits:
            missing.append(str(want))
        chosen.extend(c for c in hits if c not in chosen)
    if missing:
        have = ", ".join(sorted({str(c.platform) for c in images if c.platform})) or "none"
        raise ManifestError(f"no manifest for platform {', '.join(missing)} in the list (it has: {have})")
    return chosen


@dataclass(frozen=True)
class Challenge:
    scheme: str
    params: "dict[str, str]"

    def token_url(self, default_scope: str) -> str:
        """realm?service=..&scope=.. (scope defaults to pulling the repository)."""
        params = {k: v for k, v in self.params.items() if k != "realm"}
        params.setdefault("scope", default_scope)
        realm = self.params["realm"]
        return realm + ("&" if "?" in realm else "?") + urlencode(params)


def parse_challenge(header: str) -> "Challenge | None":
    """`WWW-Authenticate: Bearer realm="...",service="...",scope="..."` -> Challenge; None if not Bearer."""
    scheme, _, rest = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    params = {}
    for key, value in _CHALLENGE_PARAM.findall(rest):
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[key.lower()] = value
    return Challenge("Bearer", params) if params.get("realm") else None


def token_from(body: bytes) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        raise ManifestError("token endpoint did not answer JSON") from None
    token = isinstance(doc, dict) and (doc.get("token") or doc.get("access_token"))
    if not token or not isinstance(token, str):
        raise ManifestError("token endpoint answered no token")
    return token
