"""Read an image's layer list from a registry, following its Bearer token challenge.

Differences from v1 (docs/protocol.md#supernode-system-management-and-preheat, docs/decisions.md #18): the user's
headers are kept after the token retry
(only Authorization is replaced by the Bearer token), child manifests of a manifest list / OCI
index are fetched WITH the same auth (and may answer their own challenge), and a platform can be
chosen. The headers that finally worked are returned: the CDN fetches the blobs with them.

Every hop is checked against preheatAllow: redirects are followed here, one at a time, and a hop
to another origin than the registry the user named carries no credential (supernode.core.allow).
The token realm is a hop too: it must pass preheatAllow, and the user's Basic credentials go to
it only when it is on the registry's own host or the operator listed it in preheatAllow; any
other realm gets an anonymous token request (enough for public repositories).
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import requests

from supernode.core import allow
from supernode.core.manifests import (
    ACCEPT,
    Manifest,
    ManifestError,
    ManifestUrl,
    Platform,
    choose,
    parse_challenge,
    parse_manifest,
    token_from,
)

log = logging.getLogger(__name__)
_AUTH = "authorization"


@dataclass(frozen=True)
class ImageLayers:
    blob_urls: "tuple[str, ...]"
    headers: "dict[str, str]"  # the user's headers, Authorization replaced by a token if one was needed


def _without_auth(headers: "dict[str, str]") -> "dict[str, str]":
    return {k: v for k, v in headers.items() if k.lower() != _AUTH}


class RegistryClient:
    def __init__(self, session: "requests.Session | None" = None, timeout: float = 30.0, allow_list=()):
        self._http = session or requests.Session()
        self._timeout = timeout
        self.allow_list = tuple(allow_list)

    def layers(self, url: str, headers: "Mapping[str, str]", platforms: "tuple[Platform, ...]" = ()) -> ImageLayers:
        where = ManifestUrl.parse(url)
        auth = _Auth(self, dict(headers), where.pull_scope, url)
        top = auth.manifest(url)
        images: list[Manifest] = [top]
        if top.is_index:
            images = []
            for child in choose(top.children, platforms):
                manifest = auth.manifest(where.manifest_url(child.digest))
                if manifest.is_index:
                    raise ManifestError(f"manifest {child.digest} is a list inside a list")
                images.append(manifest)
        elif platforms:
            log.info(
                "preheat image url=%s is a single-platform manifest; platform=%s not checked",
                url,
                ",".join(map(str, platforms)),
            )
        digests: dict[str, None] = {}
        for manifest in images:
            for d in manifest.layers:
                digests.setdefault(d, None)
        return ImageLayers(tuple(where.blob_url(d) for d in digests), auth.headers)

    def get(self, url: str, headers: "dict[str, str]", named: "str | None" = None) -> requests.Response:
        """GET, following redirects hop by hop; credentials only on the origin of `named` (default `url`)."""
        named = named or url
        for _ in range(allow.MAX_HOPS + 1):
            self.check(url)
            resp = self._http.get(
                url, headers=allow.headers_for(url, named, headers), timeout=self._timeout, allow_redirects=False
            )
            target = allow.next_hop(url, resp.status_code, resp.headers.get("Location"))
            if target is None:
                return resp
            resp.close()
            url = target
        raise ManifestError(f"more than {allow.MAX_HOPS} redirects from {allow.shown(named)}")

    def check(self, url: str) -> None:
        try:
            allow.check(url, [("preheatAllow", self.allow_list)])
        except allow.UrlRefused as e:
            raise ManifestError(str(e)) from None

    def may_receive_credentials(self, url: str, registry: str) -> bool:
        """The user named the registry; the operator names hosts in preheatAllow."""
        return allow.origin(url)[1] == allow.origin(registry)[1] or bool(self.allow_list)


class _Auth:
    """The headers of one preheat; answers a 401 Bearer challenge once per distinct challenge."""

    def __init__(self, client: RegistryClient, headers: "dict[str, str]", scope: str, registry: str):
        self.client, self.user, self.headers, self.scope = client, headers, dict(headers), scope
        self.registry = registry
        self._answered: set[str] = set()

    def manifest(self, url: str) -> Manifest:
        resp = self._get(url)
        if not resp.ok:
            raise ManifestError(f"GET {url}: HTTP {resp.status_code} {resp.text[:200].strip()}")
        return parse_manifest(resp.content, resp.headers.get("Content-Type", ""))

    def _get(self, url: str) -> requests.Response:
        wanted = {"Accept": ACCEPT} if not any(k.lower() == "accept" for k in self.headers) else {}
        resp = self.client.get(url, {**self.headers, **wanted}, self.registry)
        header = resp.headers.get("WWW-Authenticate", "")
        if resp.status_code != 401 or header in self._answered:
            return resp
        challenge = parse_challenge(header)
        if challenge is None:
            return resp
        self._answered.add(header)
        token = self._token(challenge.token_url(self.scope))
        self.headers = {**_without_auth(self.user), "Authorization": f"Bearer {token}"}
        log.info("preheat registry token obtained url=%s realm=%s", url, challenge.params.get("realm"))
        return self.client.get(url, {**self.headers, **wanted}, self.registry)

    def _token(self, token_url: str) -> str:
        # Basic credentials the user gave are for the token service; a rejected Bearer is not sent on.
        self.client.check(token_url)
        basic = {k: v for k, v in self.user.items() if k.lower() == _AUTH and v.lower().startswith("basic ")}
        if basic and not self.client.may_receive_credentials(token_url, self.registry):
            log.warning(
                "preheat registry token realm %s is not the registry's host nor in preheatAllow: asking it anonymously",
                allow.shown(token_url),
            )
            basic = {}
        resp = self.client.get(token_url, basic)
        if not resp.ok:
            raise ManifestError(f"token request {token_url.split('?')[0]}: HTTP {resp.status_code}")
        return token_from(resp.content)
