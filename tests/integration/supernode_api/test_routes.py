"""The supernode's HTTP surface through the Flask test client, with an in-memory CDN."""

import hashlib
import random

import pytest

from common.shell.clock import FakeClock
from supernode import settings
from supernode.app import create_app
from tests.support.fake_cdn import FakeCdn

URL = "http://origin.test/file.bin"
CONTENT = bytes(random.Random(7).getrandbits(8) for _ in range(3 * 1024 * 1024 + 100))


@pytest.fixture
def app():
    cdn = FakeCdn({URL: CONTENT})
    app = create_app(
        settings.defaults(home_dir="/nonexistent"),
        cdn=cdn,
        clock=FakeClock(),
        rng=random.Random(1),
        advertise_ip="127.0.0.1",
    )
    app.cdn = cdn
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def register(client, cid="127.0.0.1-1-1.000", url=URL, **extra):
    body = {
        "rawUrl": url,
        "taskUrl": url,
        "cid": cid,
        "ip": "127.0.0.1",
        "hostName": "h",
        "port": 0,
        "path": f"/peer/file/f-{cid}",
        "version": "1.0.6",
        **extra,
    }
    return client.post("/peer/registry", json=body)


def test_register_pull_report_finish(client):
    answer = register(client).get_json()
    assert answer["code"] == 200
    task_id = answer["data"]["taskId"]
    cid = "127.0.0.1-1-1.000"
    done, reports = set(), []
    for _ in range(100):
        q = {"srcCid": cid, "taskId": task_id, "status": 701 if done else 700, "result": 502}
        if reports:
            q.update(reports.pop())
        got = client.get("/peer/task", query_string=q).get_json()
        if got["code"] == 600:
            assert got["data"]["md5"] == hashlib.md5(CONTENT).hexdigest()
            break
        assert got["code"] == 601, got
        for piece in got.get("data") or []:
            assert piece["path"] == f"/download/{task_id[:3]}/{task_id}"
            suc = client.get(
                "/peer/piece/suc",
                query_string={"taskId": task_id, "cid": cid, "dstCid": piece["cid"], "pieceRange": piece["range"]},
            ).get_json()
            assert suc == {"code": 611}
            done.add(piece["pieceNum"])
            reports.append({"range": piece["range"], "dstCid": piece["cid"], "result": 503, "status": 701})
    else:
        pytest.fail("never finished")
    task = client.get(f"/api/v1/tasks/{task_id}").get_json()
    assert task["cdnStatus"] == "SUCCESS" and task["rawURL"] == URL


def test_register_accepts_form_bodies_and_any_key_case(client):
    form = {"rawUrl": URL, "cid": "c1", "ip": "127.0.0.1", "path": "/peer/file/x", "port": "0"}
    assert client.post("/peer/registry", data=form).get_json()["code"] == 200
    shouted = {"RAWURL": URL, "CID": "c2", "IP": "127.0.0.1", "PATH": "/peer/file/y"}
    assert client.post("/peer/registry", json=shouted).get_json()["code"] == 200


@pytest.mark.parametrize("body", [b"{not json", b"[]", b""])
def test_register_malformed_json_is_param_error(client, body):
    resp = client.post("/peer/registry", data=body, content_type="application/json")
    assert resp.status_code == 200 and resp.get_json()["code"] == 501


@pytest.mark.parametrize("patch", [{"ip": "::1"}, {"port": 80}, {"port": "x"}, {"rawUrl": "ftp://x/y"}, {"path": ""}])
def test_register_bad_fields_are_param_errors(client, patch):
    assert register(client, **patch).get_json()["code"] == 501


def test_register_unreachable_source_is_607(client):
    assert register(client, url="http://origin.test/missing").get_json()["code"] == 607


def test_pull_malformed_and_unknown(client):
    assert (
        client.get("/peer/task", query_string={"srcCid": "c", "taskId": "t", "status": "x"}).get_json()["code"] == 501
    )
    assert client.get("/peer/task", query_string={"srcCid": "c"}).get_json()["code"] == 501
    assert (
        client.get(
            "/peer/task", query_string={"srcCid": "c", "taskId": "nope", "status": 700, "result": 502}
        ).get_json()["code"]
        == 502
    )


def test_management_errors_are_real_statuses(client):
    assert client.get("/api/v1/peers/nope").status_code == 404
    assert client.delete("/api/v1/peers/nope").status_code == 404
    assert client.get("/api/v1/tasks/nope").status_code == 404
    assert client.get("/api/v1/peers?pageNum=-1").status_code == 400
    assert client.post("/api/v1/peers", json={"IP": "1.2.3.4"}).status_code == 400
    bad = client.post("/api/v1/peers", data=b"{", content_type="application/json")
    assert bad.status_code == 400 and bad.get_json()["code"] == 400


def test_peer_crud_and_listing(client):
    resp = client.post("/api/v1/peers", json={"IP": "10.0.0.5", "hostName": "node-1", "port": 15001, "version": "x"})
    assert resp.status_code == 201
    peer_id = resp.get_json()["ID"]
    assert client.get(f"/api/v1/peers/{peer_id}").get_json()["hostName"] == "node-1"
    ids = [p["ID"] for p in client.get("/api/v1/peers").get_json()]
    assert peer_id in ids
    assert client.delete(f"/api/v1/peers/{peer_id}").status_code == 200
    assert client.get(f"/api/v1/peers/{peer_id}").status_code == 404


def test_version_prefix_and_lists(client):
    assert client.get("/v1.24/_ping").data == b"OK"
    assert client.get("/v1.24/api/v1/peers").status_code == 200
    legacy = client.get("/").get_json()
    assert legacy["category"] == "legacy api"
    assert {"method": "POST", "path": "/peer/registry"} in legacy["api"]
    v1 = client.get("/api/v1/").get_json()
    assert {"method": "GET", "path": "/api/v1/peers/{id}"} in v1["api"]
    assert client.get("/api/ext/").get_json()["api"] == []


def test_http_metrics_count_by_route_template(client):
    client.get("/_ping")
    client.get("/api/v1/peers/abc")
    text = client.get("/metrics").data.decode()
    assert 'dragonfly_supernode_http_requests_total{code="200",handler="/_ping"} 1.0' in text
    assert 'handler="/api/v1/peers/{id}"' in text


def test_task_metrics_report(client):
    body = {
        "IP": "127.0.0.1",
        "port": 0,
        "taskId": "t",
        "cID": "c",
        "callSystem": "ci",
        "duration": 1.5,
        "success": True,
        "backsourceReason": "0",
        "fileLength": 100,
    }
    assert client.post("/task/metrics", json=body).status_code == 200
    text = client.get("/metrics").data.decode()
    assert 'dragonfly_dfget_download_total{callsystem="ci",peer="127.0.0.1"} 1.0' in text
    assert client.post("/task/metrics", json={"duration": "x"}).status_code == 400


def test_api_token_guards_deletes(app):
    guarded = create_app(
        settings.defaults(home_dir="/nonexistent", api_token="s3cret"),
        cdn=FakeCdn(),
        clock=FakeClock(),
        advertise_ip="127.0.0.1",
    ).test_client()
    assert guarded.delete("/api/v1/tasks/x").status_code == 401
    assert guarded.delete("/api/v1/tasks/x", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_task_records_never_show_credentials(client):
    answer = register(client, headers=["Authorization: Basic c2VjcmV0", "Accept: */*"]).get_json()
    task = client.get(f"/api/v1/tasks/{answer['data']['taskId']}").get_json()
    assert task["headers"] == {"Authorization": "<redacted>", "Accept": "<redacted>"}  # no value, whatever the name
    assert "c2VjcmV0" not in client.get("/api/v1/tasks").get_data(as_text=True)
