"""The OpenAPI document (supernode/api/openapi.yaml) is true to the routes, and fuzzing every
operation it describes (schemathesis, through the WSGI app, in memory) finds no 5xx for client
mistakes and leaves the service consistent: the snapshot is well-formed and a normal download
still works. Tokens guard exactly the operations the document marks with `security`."""

import random

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hsettings

from common.shell.clock import FakeClock
from supernode import settings
from supernode.api.management import openapi_document
from supernode.api.system import go_style
from supernode.app import create_app
from tests.support.fake_cdn import FakeCdn

URL = "http://origin.test/file.bin"
CONTENT = bytes(random.Random(3).getrandbits(8) for _ in range(2 * 1024 * 1024 + 17))
TOKEN = "s3cret"


def build(**overrides):
    cdn = FakeCdn({URL: CONTENT})
    # preheat may only fetch from a host that does not exist: fuzzed URLs get 403, never a fetch
    app = create_app(
        settings.defaults(home_dir="/nonexistent", preheat_allow=[r"^http://allowed\.invalid/"], **overrides),
        cdn=cdn,
        clock=FakeClock(),
        rng=random.Random(1),
        advertise_ip="127.0.0.1",
    )
    app.testing = False  # errors must become responses, as in production
    return app


APP = build()
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)


def download(client, cid: str) -> bytes:
    """A v1-style client through the test client: register, pull every piece, read it from the CDN."""
    body = {
        "rawUrl": URL,
        "taskUrl": URL,
        "cid": cid,
        "ip": "127.0.0.1",
        "hostName": "h",
        "port": 0,
        "path": f"/peer/file/{cid}",
        "version": "1.0.6",
    }
    reg = client.post("/peer/registry", json=body).get_json()
    assert reg["code"] == 200, reg
    task_id = reg["data"]["taskId"]
    reports = [{"status": 700, "result": 502}]
    for _ in range(200):
        report = reports.pop(0) if reports else {"status": 701, "result": 502}
        answer = client.get("/peer/task", query_string={"srcCid": cid, "taskId": task_id, **report}).get_json()
        if answer["code"] == 600:
            return task_id
        assert answer["code"] in (601, 602) and (answer["code"] == 601 or reports), answer
        for piece in answer.get("data") or []:
            reports.append({"status": 701, "result": 501, "range": piece["range"], "dstCid": piece["cid"]})
    raise AssertionError("download did not finish")


def test_the_document_lists_exactly_the_routes():
    documented = {
        (m.upper(), p)
        for p, ops in openapi_document()["paths"].items()
        for m in ops
        if m in ("get", "post", "put", "delete", "patch")
    }
    routed = {
        (m, go_style(r.rule))
        for r in APP.url_map.iter_rules()
        if r.endpoint != "static"
        for m in (r.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert documented == routed, (documented - routed, routed - documented)


@schema.parametrize()
@hsettings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_fuzz_no_server_error(case):
    response = case.call()
    assert response.status_code < 500, (
        case.method,
        case.formatted_path,
        case.query,
        case.body,
        response.status_code,
        response.text[:300],
    )


def test_after_the_fuzz_the_service_is_consistent():
    client = APP.test_client()
    snap = client.get("/api/v1/console/snapshot")
    assert snap.status_code == 200
    body = snap.get_json()
    assert set(body) >= {"tasks", "hosts", "edges", "series", "peers", "serves"}
    peer_ids = {p["id"] for p in body["peers"]}
    host_keys = {h["key"] for h in body["hosts"]} | {"supernode"}
    for task in body["tasks"]:
        assert task["cdn_pieces"] >= 0 and 0 <= task["progress"] <= 1
        for h in task["holders"]:
            assert h["running"] >= 0 and h["done"] >= 0
    assert all(e["source"] in host_keys and e["client"] in host_keys for e in body["edges"])
    assert all(p["load"] >= 0 for p in body["peers"])
    assert all(s["source"] in peer_ids or s["client"] in peer_ids for s in body["serves"])
    task_id = download(client, "127.0.0.1-after-fuzz")
    assert client.get(f"/api/v1/tasks/{task_id}").get_json()["cdnStatus"] == "SUCCESS"
    assert client.get("/_ping").data == b"OK"


def guarded_operations():
    doc = openapi_document()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if isinstance(op, dict) and op.get("security"):
                yield method.upper(), path.replace("{id}", "some-id")


@pytest.mark.parametrize("method,path", sorted(set(guarded_operations())))
def test_every_state_changing_operation_needs_the_token(method, path):
    client = build(api_token=TOKEN).test_client()
    body = (
        {"type": "file", "url": "http://allowed.invalid/f"}
        if "preheat" in path
        else {"IP": "10.0.0.1", "hostName": "h", "port": 15001}
    )
    assert client.open(path, method=method, json=body).status_code == 401
    assert client.open(path, method=method, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.open(
        path, method=method, json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    ).status_code not in (401, 500)


def test_open_operations_do_not_need_the_token():
    """Everything not marked `security` works without a token (the v1 peer protocol has none)."""
    client = build(api_token=TOKEN).test_client()
    download(client, "127.0.0.1-no-token")
    assert client.get("/api/v1/tasks").status_code == 200


def test_preheat_allow_list_refuses_other_urls():
    client = build().test_client()
    r = client.post("/preheats", json={"type": "file", "url": "http://169.254.169.254/latest/meta-data"})
    assert r.status_code == 403
