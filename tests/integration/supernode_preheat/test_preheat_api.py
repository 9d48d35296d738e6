"""The preheat API through the Flask test client: a FakeCdn behind the real service, `responses`
for the registry, workers run inline (or queued, to observe dedupe)."""

import hashlib
import json
import os

import pytest
import responses

from common.shell.clock import FakeClock
from supernode import settings as settings_mod
from supernode.app import create_app
from supernode.core import manifests as m
from supernode.preheat.fetchers import DfgetFetcher, FetchResult, InProcessFetcher
from supernode.preheat.preheater import Preheater
from tests.support.fake_cdn import FakeCdn

REG = "http://reg.test"
NAME = "team/app"
MANIFEST_URL = f"{REG}/v2/{NAME}/manifests/1.0"
REALM = "http://auth.test/token"
CHALLENGE = f'Bearer realm="{REALM}",service="reg.test",scope="repository:{NAME}:pull"'


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


LAYERS = [os.urandom(3000) for _ in range(3)]
AMD = [digest_of(LAYERS[0]), digest_of(LAYERS[1])]
ARM = [digest_of(LAYERS[0]), digest_of(LAYERS[2])]  # shares the base layer
BLOBS = {f"{REG}/v2/{NAME}/blobs/{digest_of(b)}": b for b in LAYERS}


def image_manifest(layers):
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": m.DOCKER_MANIFEST,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": "sha256:" + "c" * 64,
                "size": 2,
            },
            "layers": [
                {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": d, "size": 3000}
                for d in layers
            ],
        }
    ).encode()


AMD_MANIFEST, ARM_MANIFEST = image_manifest(AMD), image_manifest(ARM)
INDEX = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": m.OCI_INDEX,
        "manifests": [
            {
                "mediaType": m.DOCKER_MANIFEST,
                "digest": digest_of(AMD_MANIFEST),
                "size": 1,
                "platform": {"os": "linux", "architecture": "amd64"},
            },
            {
                "mediaType": m.DOCKER_MANIFEST,
                "digest": digest_of(ARM_MANIFEST),
                "size": 1,
                "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
            },
        ],
    }
).encode()


class Inline:
    def __call__(self, fn, *args):
        fn(*args)


class Queue:
    def __init__(self):
        self.jobs = []

    def __call__(self, fn, *args):
        self.jobs.append((fn, args))

    def run_all(self):
        while self.jobs:
            fn, args = self.jobs.pop(0)
            fn(*args)


class World:
    def __init__(self, tmp_path, *, cdn=None, spawn=None, fetcher=None, **overrides):
        self.clock = FakeClock()
        self.cdn = cdn or FakeCdn(dict(BLOBS, **{"http://files.test/a.bin": b"a" * 5000}))
        self.settings = settings_mod.defaults(home_dir=str(tmp_path / "home"), **overrides)
        self.app = create_app(self.settings, cdn=self.cdn, clock=self.clock)
        df = self.app.extensions["dragonfly"]
        self.spawn = spawn or Inline()
        self.fetcher = fetcher or InProcessFetcher(df.service, timeout=60, sleep=lambda s: self.cdn.run_pending())
        self.preheater = df.preheater = Preheater(
            self.settings, fetcher=self.fetcher, clock=self.clock, spawn=self.spawn
        )
        self.client = self.app.test_client()

    def post(self, body, **headers):
        return self.client.post("/preheats", json=body, headers=headers)


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


def test_file_preheat_fills_the_cdn_once_and_answers_like_v1(world):
    r = world.post({"type": "file", "url": "http://files.test/a.bin"})
    assert r.status_code == 201 and set(r.json) == {"ID"}
    pid = r.json["ID"]
    got = world.client.get(f"/preheats/{pid}").json
    assert got["ID"] == pid and got["status"] == "SUCCESS" and got["errorMsg"] == ""
    assert got["finishTime"] != "1970-01-01T00:00:00.000Z"
    tasks = world.client.get("/api/v1/tasks").json
    assert [t["rawURL"] for t in tasks] == ["http://files.test/a.bin"] and tasks[0]["cdnStatus"] == "SUCCESS"
    assert len(world.cdn.started) == 1
    again = world.client.post("/api/v1/preheats", json={"type": "file", "url": "http://files.test/a.bin"})
    assert again.status_code == 208
    assert again.json == {"ID": pid, "code": 208, "message": f"preheat task already exists, id:{pid}"}
    assert len(world.cdn.started) == 1
    # the internal client signed off: its peer is down and will be collected by peer GC
    snap = world.client.get("/api/v1/console/snapshot").json
    assert [p["down"] for p in snap["peers"] if p["host_name"] == "preheat"] == [True]


def test_a_running_preheat_is_joined_not_started_twice(tmp_path):
    queue = Queue()
    w = World(tmp_path, cdn=FakeCdn({"http://files.test/a.bin": b"x" * 10}, auto_run=False), spawn=queue)
    first = w.post({"type": "file", "url": "http://files.test/a.bin"})
    second = w.post({"type": "file", "url": "http://files.test/a.bin"})
    assert first.status_code == second.status_code == 201 and first.json == second.json
    assert len(queue.jobs) == 1
    assert w.client.get(f"/preheats/{first.json['ID']}").json["status"] == "WAITING"
    queue.run_all()
    assert w.client.get(f"/preheats/{first.json['ID']}").json["status"] == "SUCCESS"
    assert len(w.cdn.started) == 1


def test_a_failed_preheat_is_retried_by_the_next_post(world):
    r = world.post({"type": "file", "url": "http://files.test/missing"})
    pid = r.json["ID"]
    got = world.client.get(f"/preheats/{pid}").json
    assert got["status"] == "FAILED" and "register refused" in got["errorMsg"]
    world.cdn.sources["http://files.test/missing"] = b"now here"
    world.clock.advance(200)  # past failAccessInterval (the supernode remembers unreachable URLs)
    assert world.post({"type": "file", "url": "http://files.test/missing"}).status_code == 201
    assert world.client.get(f"/preheats/{pid}").json["status"] == "SUCCESS"


@responses.activate
def test_image_preheat_follows_the_token_challenge_and_keeps_user_headers(tmp_path):
    # the realm is on another host than the registry: the operator lists both, so Basic goes there
    world = World(tmp_path, preheat_allow=[r"^http://reg\.test/", r"^http://auth\.test/token\?"])
    token_calls = []

    def token(request):
        token_calls.append(request)
        return 200, {}, json.dumps({"token": "T0K3N"})

    def guarded(body, media):
        def reply(request):
            if request.headers.get("Authorization") != "Bearer T0K3N":
                return 401, {"WWW-Authenticate": CHALLENGE}, "{}"
            assert request.headers.get("X-Tenant") == "blue"  # the user's headers survive the retry
            assert m.DOCKER_LIST in request.headers.get("Accept", "")
            return 200, {"Content-Type": media}, body

        return reply

    responses.add_callback(responses.GET, REALM, callback=token)
    responses.add_callback(responses.GET, MANIFEST_URL, callback=guarded(INDEX, m.OCI_INDEX))
    responses.add_callback(
        responses.GET,
        f"{REG}/v2/{NAME}/manifests/{digest_of(AMD_MANIFEST)}",
        callback=guarded(AMD_MANIFEST, m.DOCKER_MANIFEST),
    )
    responses.add_callback(
        responses.GET,
        f"{REG}/v2/{NAME}/manifests/{digest_of(ARM_MANIFEST)}",
        callback=guarded(ARM_MANIFEST, m.DOCKER_MANIFEST),
    )
    r = world.post(
        {"type": "image", "url": MANIFEST_URL, "headers": {"Authorization": "Basic dXNlcjpwdw==", "X-Tenant": "blue"}}
    )
    assert r.status_code == 201
    pid = r.json["ID"]
    assert world.client.get(f"/api/v1/preheats/{pid}").json["status"] == "SUCCESS"
    assert len(token_calls) == 1 and token_calls[0].headers["Authorization"] == "Basic dXNlcjpwdw=="
    assert "service=reg.test" in token_calls[0].url and "scope=repository%3Ateam%2Fapp%3Apull" in token_calls[0].url
    # all three distinct layers (the shared base once) became CDN tasks, fetched with the token + user headers
    assert sorted(j.source.url for j in world.cdn.started) == sorted(BLOBS)
    for job in world.cdn.started:
        assert job.source.headers["Authorization"] == "Bearer T0K3N" and job.source.headers["X-Tenant"] == "blue"
    records = {rec["ID"]: rec for rec in world.client.get("/preheats").json}
    parent = records[pid]
    assert parent["Type"] == "image" and len(parent["Children"]) == 3
    assert parent["Headers"]["Authorization"] == "<redacted>"
    assert all(records[c]["ParentID"] == pid and records[c]["Status"] == "SUCCESS" for c in parent["Children"])
    tasks = {t["rawURL"] for t in world.client.get("/api/v1/tasks").json}
    assert tasks == set(BLOBS)


@responses.activate
def test_platform_pick_preheats_one_platform(world):
    responses.add(responses.GET, MANIFEST_URL, body=INDEX, content_type=m.OCI_INDEX)
    responses.add(
        responses.GET,
        f"{REG}/v2/{NAME}/manifests/{digest_of(ARM_MANIFEST)}",
        body=ARM_MANIFEST,
        content_type=m.DOCKER_MANIFEST,
    )
    r = world.post({"type": "image", "url": MANIFEST_URL, "platform": "linux/arm64"})
    assert world.client.get(f"/preheats/{r.json['ID']}").json["status"] == "SUCCESS"
    assert sorted(j.source.url for j in world.cdn.started) == sorted(f"{REG}/v2/{NAME}/blobs/{d}" for d in ARM)
    # the console names preheated layers after the image, as dfdaemon's layers are named
    names = [t["name"] for t in world.client.get("/api/v1/console/snapshot").json["tasks"]]
    assert names == ["team/app:1.0"] * len(ARM)
    assert all("X-Dragonfly-Display-Name" not in j.source.headers for j in world.cdn.started)
    bad = world.post({"type": "image", "url": MANIFEST_URL, "platform": "windows/amd64"})
    got = world.client.get(f"/preheats/{bad.json['ID']}").json
    assert got["status"] == "FAILED" and "no manifest for platform windows/amd64" in got["errorMsg"]


@responses.activate
def test_registry_errors_fail_the_preheat_with_a_reason(world):
    responses.add(responses.GET, MANIFEST_URL, status=404, body='{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
    r = world.post({"type": "image", "url": MANIFEST_URL})
    got = world.client.get(f"/preheats/{r.json['ID']}").json
    assert got["status"] == "FAILED" and "HTTP 404" in got["errorMsg"] and "MANIFEST_UNKNOWN" in got["errorMsg"]


@responses.activate
def test_a_failing_layer_fails_the_image(world):
    responses.add(
        responses.GET, MANIFEST_URL, body=image_manifest(AMD + ["sha256:" + "9" * 64]), content_type=m.DOCKER_MANIFEST
    )
    r = world.post({"type": "image", "url": MANIFEST_URL})
    got = world.client.get(f"/preheats/{r.json['ID']}").json
    assert got["status"] == "FAILED" and got["errorMsg"].startswith(f"{REG}/v2/{NAME}/blobs/sha256:9999")


@pytest.mark.parametrize(
    "body",
    [
        "",
        "[1]",
        "{bad json",
        json.dumps({"type": "file"}),
        json.dumps({"type": "oci", "url": "http://x/y"}),
        json.dumps({"type": "image", "url": "http://reg/not/a/manifest"}),
    ],
)
def test_bad_input_is_400_with_code_and_message(world, body):
    r = world.client.post("/preheats", data=body, content_type="application/json")
    assert r.status_code == 400 and r.json["code"] == 400 and r.json["message"]


def test_unknown_ids_are_404_with_v1s_message(world):
    r = world.client.get("/preheats/nope")
    assert r.status_code == 404 and r.json == {"code": 404, "message": "nope doesn't exists"}
    assert world.client.delete("/api/v1/preheats/nope").status_code == 404


def test_delete_answers_true_and_forgets(world):
    pid = world.post({"type": "file", "url": "http://files.test/a.bin"}).json["ID"]
    r = world.client.delete(f"/preheats/{pid}")
    assert r.status_code == 200 and r.json is True
    assert world.client.get(f"/preheats/{pid}").status_code == 404
    assert world.client.get("/preheats").json == []


def test_api_token_guards_post_and_delete_not_get(tmp_path):
    w = World(tmp_path, api_token="s3cret")
    body = {"type": "file", "url": "http://files.test/a.bin"}
    assert w.post(body).status_code == 401
    assert w.post(body, Authorization="Bearer wrong").status_code == 401
    r = w.post(body, Authorization="Bearer s3cret")
    assert r.status_code == 201
    assert w.client.get(f"/preheats/{r.json['ID']}").status_code == 200
    assert w.client.delete(f"/preheats/{r.json['ID']}").status_code == 401
    assert w.client.delete(f"/preheats/{r.json['ID']}", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_allow_list_refuses_other_urls_with_403(tmp_path):
    w = World(tmp_path, preheat_allow=[r"^http://files\.test/"])
    assert w.post({"type": "file", "url": "http://files.test/a.bin"}).status_code == 201
    r = w.post({"type": "file", "url": "http://169.254.169.254/latest/meta-data"})
    assert r.status_code == 403 and "preheatAllow" in r.json["message"]
    assert w.cdn.probes and all("169.254" not in p.url for p in w.cdn.probes)


def test_records_and_outputs_expire(tmp_path):
    made = []

    def fake_run(argv, **kw):
        out = argv[argv.index("-o") + 1]
        with open(out, "wb") as f:
            f.write(b"data")
        made.append(out)

        class Done:
            returncode, stdout, stderr = 0, b"", b""

        return Done()

    settings = settings_mod.defaults(home_dir=str(tmp_path / "home"))
    fetcher = DfgetFetcher("/opt/dfget", home_dir=settings.home_dir, api_port=8002, timeout=60, run=fake_run)
    w = World(tmp_path, fetcher=fetcher, preheat_record_ttl="1h")
    pid = w.post(
        {"type": "file", "url": "http://files.test/a.bin", "headers": {"X-A": "1"}, "filter": "sig", "identifier": "i1"}
    ).json["ID"]
    assert w.client.get(f"/preheats/{pid}").json["status"] == "SUCCESS"
    assert len(made) == 1 and os.path.exists(made[0])
    w.clock.advance(3599)
    assert w.client.get(f"/preheats/{pid}").status_code == 200
    w.clock.advance(1)
    assert w.client.get(f"/preheats/{pid}").status_code == 404
    assert not os.path.exists(made[0])


def test_dfget_command_line_uses_real_flags():
    from dfget.cli import main

    fetcher = DfgetFetcher("/usr/local/bin/dfget", home_dir="/h", api_port=8002, timeout=1, run=None)
    from supernode.core.preheat import parse_request

    spec = parse_request(
        {"type": "file", "url": "http://x/y?sig=1", "filter": "sig", "identifier": "id", "headers": {"A": "b"}}
    )
    argv = fetcher.argv(spec, "/h/repo/preheat/out")
    flags = {o for p in main.params for o in p.opts}
    assert all(a in flags for a in argv[1:] if a.startswith("-"))
    assert argv[argv.index("--node") + 1] == "127.0.0.1:8002" and argv[argv.index("--header") + 1] == "A:b"


def test_a_timed_out_preheat_fails(tmp_path):
    class Stuck:
        def __call__(self, spec, pid):
            return FetchResult(True)

    queue = Queue()
    w = World(tmp_path, fetcher=Stuck(), spawn=queue, preheat_timeout="10m")
    pid = w.post({"type": "file", "url": "http://files.test/a.bin"}).json["ID"]
    w.clock.advance(600)
    got = w.client.get(f"/preheats/{pid}").json
    assert got["status"] == "FAILED" and "timed out" in got["errorMsg"]
    queue.run_all()  # the late worker finds its record finished and changes nothing
    assert w.client.get(f"/preheats/{pid}").json["status"] == "FAILED"
