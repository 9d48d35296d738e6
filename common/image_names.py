"""Human names for container-image layers (docs/operations.md#console).

A layer's URL is `<registry>/v2/<repository>/blobs/sha256:<hex>`: it names the repository and the
layer's digest, not the tag an operator pulled. dfdaemon learns the tag from the manifest request
that comes before the layers (`/v2/<repository>/manifests/<tag>`) and hands the supernode a
display name such as `library/alpine:3.19` in a registration header (HEADER_DISPLAY_NAME in
common/protocol/messages.py). The supernode falls back to the repository from the URL.

A display name comes from any host on the network, so `clean_display_name` accepts only the
characters of a Docker image reference and at most DISPLAY_NAME_MAX of them; anything else is
dropped, never shown.
"""

import re
from urllib.parse import unquote, urlsplit

DISPLAY_NAME_MAX = 160
# Docker's reference grammar, loosely: path components, an optional :tag and/or @digest.
_DISPLAY_NAME = re.compile(
    r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(@sha256:[0-9a-f]{6,64})?$"
)
_BLOB = re.compile(r"^(?:.*/)?v2/(?P<repo>[a-z0-9][a-z0-9._/-]*)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")
_MANIFEST = re.compile(r"^(?:.*/)?v2/(?P<repo>[a-z0-9][a-z0-9._/-]*)/manifests/(?P<ref>[^/]+)$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
SHORT_DIGEST = 12  # hex characters of a layer digest shown after the repository


def clean_display_name(text: str) -> str:
    """`text` if it is a plausible image reference of at most DISPLAY_NAME_MAX characters, else ""."""
    text = (text or "").strip()
    if len(text) > DISPLAY_NAME_MAX or "//" in text or ".." in text:
        return ""
    return text if _DISPLAY_NAME.match(text) else ""


def blob_of(url_or_path: str) -> "tuple[str, str] | None":
    """(repository, "sha256:<hex>") when the URL names a registry layer, else None."""
    m = _BLOB.match(_path(url_or_path))
    return (m.group("repo"), m.group("digest")) if m else None


def manifest_of(url_or_path: str) -> "tuple[str, str] | None":
    """(repository, tag or digest) when the URL names a registry manifest, else None."""
    m = _MANIFEST.match(_path(url_or_path))
    return (m.group("repo"), m.group("ref")) if m else None


def is_tag(reference: str) -> bool:
    return bool(_TAG.match(reference))


def layer_display_name(repository: str, tag: str = "") -> str:
    """What dfdaemon announces for a layer of `repository` pulled as `tag` ("" when unknown)."""
    name = f"{repository}:{tag}" if tag and is_tag(tag) else repository
    return clean_display_name(name)


def name_from_url(url: str) -> str:
    """The fallback display name of a task whose registrant named none: `repo@sha256:<12 hex>`
    for a registry layer URL, else ""."""
    blob = blob_of(url)
    if blob is None:
        return ""
    repo, digest = blob
    return clean_display_name(f"{repo}@{digest[: len('sha256:') + SHORT_DIGEST]}")


def _path(url_or_path: str) -> str:
    try:
        path = urlsplit(url_or_path).path
    except ValueError:
        return ""
    return unquote(path).strip("/")
