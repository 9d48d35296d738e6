"""Preheat allow-list bypasses (issue 11 item 8): every hop is checked, not only the submitted URL,
and the user's credentials never go to a host the user (or the operator's preheatAllow) did not name."""

import json

import pytest
import responses

from supernode import settings as settings_mod
from supernode.cdn.manager import LocalCdn
from supernode.preheat.preheater import default_fetcher

from .test_preheat_api import AMD, AMD_MANIFEST, MANIFEST_URL, NAME, REG, World, image_manifest

EVIL = "http://evil.test"
BASIC = "Basic dXNlcjpwdw=="


def contacted(host: str) -> list:
    return [c.request.url for c in responses.calls if c.request.url.startswith(host)]


def status_of(world, r):
    return world.client.get(f"/preheats/{r.json['ID']}").json


@pytest.mark.parametrize(
    "url",
    [
        "http://files.test@evil.test/a.bin",
        "http://files.test:pw@evil.test/a.bin",
        "http://files.test\\@evil.test/a.bin",
    ],
)
def test_userinfo_naming_an_allowed_host_is_refused(tmp_path, url):
    w = World(tmp_path, preheat_allow=[r"^https?://files\.test"])
    r = w.post({"type": "file", "url": url})
    assert r.status_code in (400, 403), r.json
    assert all("evil.test" not in p.url for p in w.cdn.probes)


@responses.activate
def test_a_manifest_redirect_to_another_host_is_not_followed(tmp_path):
    w = World(tmp_path, preheat_allow=[r"^http://reg\.test/"])
    responses.add(responses.GET, MANIFEST_URL, status=302, headers={"Location": f"{EVIL}/v2/{NAME}/manifests/1.0"})
    responses.add(responses.GET, f"{EVIL}/v2/{NAME}/manifests/1.0", body=AMD_MANIFEST)
    got = status_of(w, w.post({"type": "image", "url": MANIFEST_URL}))
    assert got["status"] == "FAILED" and "preheatAllow" in got["errorMsg"]
    assert contacted(EVIL) == [] and w.cdn.started == []


@responses.activate
def test_a_token_realm_outside_the_allow_list_is_never_asked(tmp_path):
    w = World(tmp_path, preheat_allow=[r"^http://reg\.test/"])
    challenge = f'Bearer realm="{EVIL}/token",service="reg.test"'
    responses.add(responses.GET, MANIFEST_URL, status=401, headers={"WWW-Authenticate": challenge})
    responses.add(responses.GET, f"{EVIL}/token", body=json.dumps({"token": "t"}))
    got = status_of(w, w.post({"type": "image", "url": MANIFEST_URL, "headers": {"Authorization": BASIC}}))
    assert got["status"] == "FAILED" and "preheatAllow" in got["errorMsg"]
    assert contacted(EVIL) == []


@responses.activate
def test_without_an_allow_list_a_foreign_realm_gets_no_credentials(tmp_path):
    w = World(tmp_path)
    challenge = f'Bearer realm="{EVIL}/token",service="reg.test"'

    def manifest(request):
        if request.headers.get("Authorization") != "Bearer anon":
            return 401, {"WWW-Authenticate": challenge}, "{}"
        return 200, {"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"}, AMD_MANIFEST

    responses.add_callback(responses.GET, MANIFEST_URL, callback=manifest)
    responses.add(responses.GET, f"{EVIL}/token", body=json.dumps({"token": "anon"}))
    got = status_of(w, w.post({"type": "image", "url": MANIFEST_URL, "headers": {"Authorization": BASIC}}))
    assert got["status"] == "SUCCESS", got
    (token_call,) = [c for c in responses.calls if c.request.url.startswith(EVIL)]
    assert "Authorization" not in token_call.request.headers
    assert sorted(j.source.url for j in w.cdn.started) == sorted(f"{REG}/v2/{NAME}/blobs/{d}" for d in AMD)


@responses.activate
def test_a_realm_on_the_registry_host_gets_the_basic_credentials(tmp_path):
    w = World(tmp_path)
    challenge = f'Bearer realm="{REG}/token",service="reg.test"'

    def manifest(request):
        if request.headers.get("Authorization") != "Bearer mine":
            return 401, {"WWW-Authenticate": challenge}, "{}"
        return 200, {"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"}, image_manifest([])

    responses.add_callback(responses.GET, MANIFEST_URL, callback=manifest)
    responses.add(responses.GET, f"{REG}/token", body=json.dumps({"token": "mine"}))
    got = status_of(w, w.post({"type": "image", "url": MANIFEST_URL, "headers": {"Authorization": BASIC}}))
    assert got["status"] == "SUCCESS", got
    (token_call,) = [c for c in responses.calls if "/token" in c.request.url]
    assert token_call.request.headers["Authorization"] == BASIC


@responses.activate
def test_a_file_preheat_redirected_off_the_allow_list_fetches_nothing_there(tmp_path):
    """The CDN follows the redirects of a preheat's URL hop by hop under preheatAllow."""
    import time as _time

    from common.shell.clock import SystemClock

    settings = settings_mod.defaults(home_dir=str(tmp_path / "home"), preheat_allow=[r"^http://files\.test/"])
    cdn = LocalCdn(settings, clock=SystemClock(), sleep=lambda s: None)
    w = World(tmp_path, cdn=cdn, preheat_allow=[r"^http://files\.test/"])
    df = w.app.extensions["dragonfly"]
    fetcher = default_fetcher(w.settings.replace(preheat_timeout=20), df.service)
    fetcher.fetcher._sleep = lambda s: _time.sleep(0.05)
    w.preheater._fetch = fetcher
    for method in (responses.HEAD, responses.GET):
        responses.add(method, "http://files.test/a.bin", status=302, headers={"Location": f"{EVIL}/a.bin"})
        responses.add(method, f"{EVIL}/a.bin", body=b"secret")
    got = status_of(w, w.post({"type": "file", "url": "http://files.test/a.bin"}))
    assert got["status"] == "FAILED", got
    assert contacted(EVIL) == []
    cdn.source.close()
