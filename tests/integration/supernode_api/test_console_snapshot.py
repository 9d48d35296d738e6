"""The console's data endpoint (docs/operations.md#console): hosts instead of peer records,
image names from registrations (cleaned, bounded), P2P edges between hosts, the throughput series,
and the apiToken for the page and the data when one is set."""

import base64
import hashlib
import random

import pytest

from common.protocol.messages import HEADER_DISPLAY_NAME
from common.shell.clock import FakeClock
from supernode import settings
from supernode.app import create_app
from supernode.console.core import view
from tests.support.fake_cdn import FakeCdn

CONTENT = bytes(random.Random(7).getrandbits(8) for _ in range(3 * 1024 * 1024 + 10))
URL = "http://registry.test/v2/library/alpine/blobs/sha256:" + hashlib.sha256(CONTENT).hexdigest()
A = {"ip": "10.0.0.1", "hostName": "node-a", "port": 15001, "cid": "10.0.0.1-1-1.000"}
B = {"ip": "10.0.0.2", "hostName": "node-b", "port": 15002, "cid": "10.0.0.2-1-1.000"}


def make(**overrides):
    cdn = FakeCdn({URL: CONTENT})
    app = create_app(
        settings.defaults(home_dir="/nonexistent", **overrides),
        cdn=cdn,
        clock=FakeClock(),
        rng=random.Random(1),
        advertise_ip="127.0.0.1",
    )
    return app.test_client(), cdn


@pytest.fixture
def world():
    return make()


def register(client, who, name="", url=URL):
    headers = [f"{HEADER_DISPLAY_NAME}: {name}"] if name else []
    body = {
        "rawUrl": url,
        "taskUrl": url,
        "path": f"/peer/file/f-{who['cid']}",
        "version": "1.0.6",
        "headers": headers,
        **who,
    }
    answer = client.post("/peer/registry", json=body, environ_base={"REMOTE_ADDR": who["ip"]}).get_json()
    assert answer["code"] == 200, answer
    return answer["data"]


def fetch_all(client, who, task_id, key):
    """Pull until 600, reporting every assigned piece as received (as our dfget does)."""
    env, hdr = {"REMOTE_ADDR": who["ip"]}, {"X-Dragonfly-Client-Key": key}
    query = {"srcCid": who["cid"], "taskId": task_id, "status": 700, "result": 502}
    sources = []
    for _ in range(50):
        answer = client.get("/peer/task", query_string=query, environ_base=env, headers=hdr).get_json()
        if answer["code"] == 600:
            return sources
        assert answer["code"] == 601, answer
        for piece in answer["data"]:
            sources.append(piece["cid"])
            suc = {"taskId": task_id, "cid": who["cid"], "dstCid": piece["cid"], "pieceRange": piece["range"]}
            assert (
                client.get("/peer/piece/suc", query_string=suc, environ_base=env, headers=hdr).get_json()["code"] == 611
            )
        query = {
            "srcCid": who["cid"],
            "taskId": task_id,
            "status": 701,
            "result": 503,
            "range": answer["data"][-1]["range"],
            "dstCid": answer["data"][-1]["cid"],
        }
    raise AssertionError("no 600")


def snapshot(client, **kw):
    r = client.get("/api/v1/console/snapshot", **kw)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def test_two_hosts_a_p2p_edge_history_and_series(world):
    client, cdn = world
    a = register(client, A, "library/alpine:3.19")
    cdn.run_pending()
    from_super = fetch_all(client, A, a["taskId"], a["clientKey"])
    b = register(client, B, "library/alpine:latest")
    sources = fetch_all(client, B, b["taskId"], b["clientKey"])
    assert A["cid"] in sources  # B got pieces from A
    snap = snapshot(client)
    [task] = snap["tasks"]
    assert task["name"] == "library/alpine:3.19" and task["names"] == ["library/alpine:3.19", "library/alpine:latest"]
    assert task["progress"] == 1.0 and task["done_clients"] == 2
    hosts = {h["key"]: h for h in snap["hosts"]}
    assert set(hosts) == {"10.0.0.1", "10.0.0.2"}
    assert hosts["10.0.0.1"]["label"] == "10.0.0.1:15001" and hosts["10.0.0.1"]["host_name"] == "node-a"
    assert sorted(h["label"] for h in task["holders"][1:]) == ["10.0.0.1:15001", "10.0.0.2:15002"]
    edges = {(e["source"], e["client"]): e["pieces"] for e in snap["edges"]}
    assert edges[("10.0.0.1", "10.0.0.2")] == sources.count(A["cid"])
    assert edges[("supernode", "10.0.0.1")] == len(from_super) > 1
    served = hosts["10.0.0.1"]["history"]
    assert served["tasks_served"] == 1 and served["bytes_up"] > 0 and served["tasks_fetched"] == 1
    assert hosts["10.0.0.2"]["history"]["bytes_down"] == served["bytes_up"]
    totals = snap["series"]["totals"]
    assert totals["p2p"] == served["bytes_up"] and totals["supernode"] == hosts["10.0.0.1"]["history"]["bytes_down"]
    # the display header went nowhere else: not a task header, so never sent to the registry
    tasks = client.get("/api/v1/tasks").get_json()
    assert all(HEADER_DISPLAY_NAME not in (t.get("headers") or {}) for t in tasks)


def test_a_hostile_name_is_dropped_and_the_url_names_the_layer(world):
    client, _ = world
    register(client, A, "<img src=x onerror=alert(1)>")
    register(client, B, "x" * 5000)
    body = client.get("/api/v1/console/snapshot").get_data(as_text=True)
    assert "<img" not in body and "xxxxxxxx" not in body
    [task] = snapshot(client)["tasks"]
    assert task["names"] == [] and task["name"] == "library/alpine@sha256:" + URL[-64:][:12]


def test_hostile_host_names_and_floods_are_bounded(world):
    client, _ = world
    long_name = "h" * 64
    for i in range(view.MAX_HOSTS + 20):
        who = {"ip": f"10.1.{i // 250}.{i % 250 + 1}", "hostName": long_name, "port": 15001, "cid": f"c-{i}"}
        register(client, who)
    snap = snapshot(client)
    assert len(snap["hosts"]) == view.MAX_HOSTS and snap["totals"]["hosts"] == view.MAX_HOSTS + 20
    assert all(len(h["host_name"]) <= view.MAX_TEXT for h in snap["hosts"])
    assert all(len(h["bitmap"]) <= view.MAX_BITMAP for t in snap["tasks"] for h in t["holders"])


def test_a_forged_back_source_report_cannot_invent_hosts_or_petabytes(world):
    client, _ = world
    for ip in ("not-an-ip", "10.9.9.9"):
        client.post(
            "/task/metrics",
            json={
                "IP": ip,
                "taskId": "t",
                "cID": "c",
                "success": True,
                "backsourceReason": "1",
                "fileLength": 1 << 60,
                "duration": 1,
            },
        )
    snap = snapshot(client)
    assert [h["key"] for h in snap["hosts"]] == ["10.9.9.9"]
    assert snap["series"]["totals"]["source"] == 1 << 40


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("path", ["/console", "/api/v1/console/snapshot"])
def test_with_an_api_token_the_console_needs_it(path):
    client, _ = make(api_token="s3cret")
    refused = client.get(path)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert "apiToken" in refused.get_json()["message"]
    for wrong in (
        basic("u", "nope"),
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Bearer " + "s3cret" * 1000},
    ):
        assert client.get(path, headers=wrong).status_code == 401
    assert client.get(path, headers=basic("anyone", "s3cret")).status_code == 200
    assert client.get(path, headers={"Authorization": "Bearer s3cret"}).status_code == 200


@pytest.mark.parametrize("path", ["/console", "/api/v1/console/snapshot"])
def test_without_a_token_the_console_is_open(world, path):
    client, _ = world
    assert client.get(path).status_code == 200


def test_the_page_allows_only_its_own_script_and_origin(world):
    client, _ = world
    page = client.get("/console")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'sha256-" in csp and "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert "http" not in page.get_data(as_text=True).split("<script>")[1].replace("http://www.w3.org/2000/svg", "")
