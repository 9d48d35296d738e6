"""Issue 11 items 6 and 2 through the HTTP routes: who sent a report is the connection's address
and the X-Dragonfly-Client-Key header; nothing secret is shown by /api/v1 or the console."""

import json
import random

import pytest

from common.protocol.messages import HEADER_CLIENT_KEY
from common.shell.clock import FakeClock
from supernode import settings
from supernode.app import create_app
from tests.support.fake_cdn import FakeCdn

URL = "http://origin.test/file.bin"
CONTENT = bytes(random.Random(5).getrandbits(8) for _ in range(2 * 1024 * 1024 + 10))
OWNER, STRANGER = {"REMOTE_ADDR": "127.0.0.1"}, {"REMOTE_ADDR": "127.0.0.3"}
CID = "127.0.0.1-42-1.000"


@pytest.fixture
def client():
    cdn = FakeCdn(
        {URL: CONTENT, URL + "?token=qs-secret": CONTENT, "http://alice:pw-secret@origin.test/file.bin": CONTENT}
    )
    app = create_app(
        settings.defaults(home_dir="/nonexistent"),
        cdn=cdn,
        clock=FakeClock(),
        rng=random.Random(1),
        advertise_ip="127.0.0.1",
    )
    return app.test_client()


def register(client, url=URL, cid=CID, environ=OWNER, http_headers=None, **extra):
    body = {
        "rawUrl": url,
        "taskUrl": url,
        "cid": cid,
        "ip": "127.0.0.1",
        "hostName": "h",
        "port": 15001,
        "path": f"/peer/file/f-{cid}",
        "version": "1.0.6",
        **extra,
    }
    return client.post("/peer/registry", json=body, environ_base=environ, headers=http_headers or {}).get_json()


def test_each_registration_gets_its_own_key(client):
    one, two = register(client), register(client, cid="127.0.0.1-43-1.000")
    assert one["code"] == two["code"] == 200
    assert len(one["data"]["clientKey"]) >= 32 and one["data"]["clientKey"] != two["data"]["clientKey"]


def test_forged_suc_pull_and_service_down_from_another_host_are_refused(client):
    task_id = register(client)["data"]["taskId"]
    first = client.get(
        "/peer/task", query_string={"srcCid": CID, "taskId": task_id, "status": 700, "result": 502}, environ_base=OWNER
    ).get_json()
    assert first["code"] == 601
    piece = first["data"][0]
    suc = {"taskId": task_id, "cid": CID, "dstCid": piece["cid"], "pieceRange": piece["range"]}
    assert client.get("/peer/piece/suc", query_string=suc, environ_base=STRANGER).get_json()["code"] == 501
    finish = {"srcCid": CID, "taskId": task_id, "status": 702, "result": 500}
    assert client.get("/peer/task", query_string=finish, environ_base=STRANGER).get_json()["code"] == 501
    down = {"taskId": task_id, "cid": CID}
    assert client.get("/peer/service/down", query_string=down, environ_base=STRANGER).get_json()["code"] == 501
    snap = client.get("/api/v1/console/snapshot").get_json()
    assert not any(p["down"] for p in snap["peers"])
    assert [h["status"] for h in snap["tasks"][0]["holders"][1:]] == ["RUNNING"]  # [0] is the CDN
    # the owner (a v1 client: no key, its own address) is served as before
    assert client.get("/peer/piece/suc", query_string=suc, environ_base=OWNER).get_json()["code"] == 611
    assert client.get("/peer/service/down", query_string=down, environ_base=OWNER).get_json()["code"] == 612


def test_the_key_speaks_for_the_client_from_anywhere_and_then_is_required(client):
    answer = register(client)
    task_id, key = answer["data"]["taskId"], answer["data"]["clientKey"]
    q = {"srcCid": CID, "taskId": task_id, "status": 700, "result": 502}
    assert (
        client.get("/peer/task", query_string=q, environ_base=STRANGER, headers={HEADER_CLIENT_KEY: key}).get_json()[
            "code"
        ]
        == 601
    )
    q["status"] = 701
    assert client.get("/peer/task", query_string=q, environ_base=OWNER).get_json()["code"] == 501
    assert (
        client.get(
            "/peer/task", query_string=q, environ_base=OWNER, headers={HEADER_CLIENT_KEY: "not-" + key}
        ).get_json()["code"]
        == 501
    )
    down = {"taskId": task_id, "cid": CID}
    assert (
        client.get(
            "/peer/service/down", query_string=down, environ_base=OWNER, headers={HEADER_CLIENT_KEY: key}
        ).get_json()["code"]
        == 612
    )


def test_nobody_re_registers_a_cid_that_is_not_theirs(client):
    key = register(client)["data"]["clientKey"]
    assert register(client, environ=STRANGER)["code"] == 501
    again = register(client, environ=STRANGER, http_headers={HEADER_CLIENT_KEY: key})
    assert again["code"] == 200 and again["data"]["clientKey"] != key


def test_the_console_names_no_client_id(client):
    register(client)
    body = client.get("/api/v1/console/snapshot").get_data(as_text=True)
    assert CID not in body


@pytest.mark.parametrize(
    "url, headers, secret",
    [
        (URL, ["X-JFrog-Art-Api: header-secret"], "header-secret"),
        (URL + "?token=qs-secret", [], "qs-secret"),
        ("http://alice:pw-secret@origin.test/file.bin", [], "pw-secret"),
    ],
)
def test_no_secret_is_shown_whatever_it_is_called(client, url, headers, secret):
    answer = register(client, url=url, headers=headers)
    assert answer["code"] == 200, answer
    task_id = answer["data"]["taskId"]
    shown = [
        client.get("/api/v1/tasks").get_data(as_text=True),
        client.get(f"/api/v1/tasks/{task_id}").get_data(as_text=True),
        client.get("/api/v1/console/snapshot").get_data(as_text=True),
        client.get("/metrics").get_data(as_text=True),
    ]
    for body in shown:
        assert secret not in body
    task = json.loads(shown[1])
    assert all(v == "<redacted>" for v in task.get("headers", {}).values())
