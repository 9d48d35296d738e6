"""Issue 11 items 5 and 10: client-supplied label values cannot grow /metrics without end, and the
state gauges are counted when scraped, not on every registration."""

import random

import pytest

from common.shell.clock import FakeClock
from supernode import settings
from supernode.app import create_app
from supernode.metric_labels import LabelPolicy
from tests.support.fake_cdn import FakeCdn

URL = "http://origin.test/file.bin"


@pytest.fixture
def app():
    return create_app(
        settings.defaults(home_dir="/nonexistent"),
        cdn=FakeCdn({URL: b"x" * 5000}),
        clock=FakeClock(),
        rng=random.Random(1),
        advertise_ip="127.0.0.1",
    )


def series(text: str, name: str) -> "list[str]":
    return [line for line in text.splitlines() if line.startswith(name + "{")]


def samples(text: str) -> "list[str]":
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def total(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in series(text, name))


def report(client, call_system: str, ip: str, **extra) -> None:
    body = {
        "IP": ip,
        "port": 15001,
        "taskId": "t",
        "cID": "c",
        "callSystem": call_system,
        "duration": 1.5,
        "success": False,
        "backsourceReason": "3",
        "fileLength": 100,
        **extra,
    }
    assert client.post("/task/metrics", json=body).status_code == 200


def test_task_metrics_with_a_new_call_system_and_ip_each_time_do_not_grow_the_scrape(app):
    client = app.test_client()
    client.get("/metrics")  # the scrape's own http_* series exist from here on
    for i in range(300):
        report(client, f"cs-{i}-" + "x" * 100, f"10.1.{i // 250}.{i % 250}", backsourceReason=f"r{i}")
    first = client.get("/metrics").get_data(as_text=True)
    for i in range(300, 600):
        report(client, f"cs-{i}-" + "x" * 100, f"10.2.{i // 250}.{i % 250}", backsourceReason=f"r{i}")
    text = client.get("/metrics").get_data(as_text=True)
    assert len(samples(text)) == len(samples(first)), "the second 300 posts added series"
    assert len(text) < 300_000  # 300 posts made v1's scrape 420 MB (with 100 MB label values)
    failed = series(text, "dragonfly_dfget_download_failed_total")
    assert len(failed) <= LabelPolicy().peer_limit + 1  # one series per kept IP, then "other"
    assert total(text, "dragonfly_dfget_download_failed_total") == 600  # nothing is lost, only pooled
    assert 'callsystem="other"' in text and 'reason="other"' in text


def test_known_reasons_and_error_types_keep_their_names_unknown_ones_are_other(app):
    client = app.test_client()
    report(client, "ci", "10.0.0.1", backsourceReason="1003")
    report(client, "ci", "10.0.0.1", backsourceReason="'; DROP")
    report(client, "ci", "not-an-ip")
    # piece errors count only when a registered client reports them (strangers are ignored)
    cid = "127.0.0.1-1-1.000"
    reg = client.post(
        "/peer/registry",
        json={
            "rawUrl": URL,
            "taskUrl": URL,
            "cid": cid,
            "ip": "127.0.0.1",
            "hostName": "h",
            "port": 15001,
            "path": "/peer/file/f",
        },
    ).get_json()
    task_id = reg["data"]["taskId"]
    for error_type in ("FILE_MD5_NOT_MATCH", "whatever-1", "whatever-2"):
        client.get(
            "/peer/piece/error",
            query_string={"taskId": task_id, "range": "0-1", "srcCid": cid, "dstCid": "d", "errorType": error_type},
        )
    text = client.get("/metrics").get_data(as_text=True)
    assert 'reason="1003"' in text and 'reason="other"' in text and 'peer="invalid"' in text
    assert 'type="FILE_MD5_NOT_MATCH"' in text and 'type="other"' in text and "whatever" not in text


def test_registrations_with_many_call_systems_keep_the_series_fixed(app):
    client = app.test_client()
    for i in range(100):
        body = {
            "rawUrl": URL,
            "taskUrl": URL,
            "cid": f"10.0.0.{i}-1-1.000",
            "ip": f"10.0.{i // 200}.{i % 200}",
            "hostName": "h",
            "port": 15001,
            "path": f"/peer/file/f{i}",
            "callSystem": f"team-{i}",
        }
        assert client.post("/peer/registry", json=body).get_json()["code"] == 200
    text = client.get("/metrics").get_data(as_text=True)
    assert len(series(text, "dragonfly_supernode_dfgettasks_registered_total")) == 16 + 1
    assert total(text, "dragonfly_supernode_dfgettasks_registered_total") == 100
    assert total(text, "dragonfly_supernode_dfgettasks") == 100


def test_a_gauge_by_peer_ip_keeps_the_busiest_ips_and_pools_the_rest():
    policy = LabelPolicy(peers=2)
    assert policy.top_peers({"10.0.0.1": 5, "10.0.0.2": 1, "10.0.0.3": 7, "10.0.0.4": 1}) == {
        "10.0.0.3": 7,
        "10.0.0.1": 5,
        "other": 2,
    }


def test_every_metric_keeps_at_most_its_series_budget():
    policy = LabelPolicy(series_per_metric=3)
    got = {policy.values("m", ("code", "handler"), (str(i), "/x")) for i in range(10)}
    assert got == {("0", "/x"), ("1", "/x"), ("2", "/x"), ("other", "other")}


def test_registrations_do_not_recount_the_gauges_a_scrape_does(app, monkeypatch):
    """The cost of item 10 lived in a recount on every registration (see tests/bench/gauge_cost.py
    for the figures); here: how many recounts, not how long."""
    core = app.extensions["dragonfly"].service._core
    recounts = []
    real = core.gauge_counts
    monkeypatch.setattr(core, "gauge_counts", lambda: recounts.append(1) or real())
    client = app.test_client()
    for i in range(20):
        body = {
            "rawUrl": URL,
            "taskUrl": URL,
            "cid": f"c{i}",
            "ip": "10.0.0.1",
            "hostName": "h",
            "port": 15001,
            "path": f"/peer/file/f{i}",
        }
        assert client.post("/peer/registry", json=body).get_json()["code"] == 200
    assert recounts == []
    text = client.get("/metrics").get_data(as_text=True)
    assert recounts == [1]
    assert 'dragonfly_supernode_peers{peer="10.0.0.1"} 20.0' in text
