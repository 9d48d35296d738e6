"""The console's pure parts: host identity, the bounded series, the ledger's per-host history,
the snapshot's dedup and bounds, and the token check."""

import base64
from types import SimpleNamespace as Ref

from supernode.console.core import auth, identity, view
from supernode.console.core.ledger import RECENT_TASKS, Ledger
from supernode.console.core.series import Series


def test_a_host_is_its_ip_shown_with_its_upload_port():
    assert identity.host_key("10.0.0.1") == "10.0.0.1"
    assert identity.host_label("10.0.0.1", 15001) == "10.0.0.1:15001"
    assert identity.host_label("10.0.0.1", 0) == "10.0.0.1"


def test_the_series_keeps_a_fixed_window_of_buckets():
    s = Series(step=5, length=4)
    s.add("p2p", 100, now=0.0)
    s.add("p2p", 50, now=4.9)
    s.add("supernode", 10, now=12.0)
    s.add("nonsense", 10, now=12.0)
    points = s.points(now=14.0)
    assert [p["t"] for p in points] == [-5.0, 0.0, 5.0, 10.0]
    assert points[1]["p2p"] == 30.0 and points[3]["supernode"] == 2.0
    assert s.totals(now=14.0) == {"supernode": 10, "p2p": 150, "source": 0, "origin": 0}
    s.add("p2p", 1, now=100.0)  # everything older than the window is dropped
    assert len(s._buckets) == 1 and s.totals(now=100.0)["p2p"] == 1


def test_the_ledger_keeps_history_per_host_across_peer_records():
    ledger = Ledger(Series(step=1, length=10))
    a, b = Ref(ip="10.0.0.1", host_name="a", port=15001), Ref(ip="10.0.0.2", host_name="b", port=15002)
    ledger.delivered("t1", 100, a, None, now=1.0)
    ledger.delivered("t1", 100, b, a, now=2.0)
    ledger.delivered("t1", 100, b, Ref(ip="10.0.0.1", host_name="a", port=16000), now=3.0)  # a new upload port
    ledger.delivered("t2", 100, b, a, now=4.0)
    hosts = ledger.view(now=5.0)["hosts"]
    assert set(hosts) == {"10.0.0.1", "10.0.0.2"}
    assert hosts["10.0.0.1"]["bytes_up"] == 300 and hosts["10.0.0.1"]["tasks_served"] == 2
    assert hosts["10.0.0.1"]["port"] == 15001 and hosts["10.0.0.1"]["tasks_fetched"] == 1
    assert hosts["10.0.0.2"]["bytes_down"] == 300 and hosts["10.0.0.2"]["tasks_fetched"] == 2
    assert ledger.series.totals(5.0) == {"supernode": 100, "p2p": 300, "source": 0, "origin": 0}


def test_the_ledger_is_bounded():
    ledger = Ledger(max_hosts=3)
    for i in range(10):
        ledger.back_source(f"10.0.0.{i}", "t", 1, now=float(i))
    assert list(ledger.hosts) == ["10.0.0.7", "10.0.0.8", "10.0.0.9"]
    host = ledger.hosts["10.0.0.9"]
    for i in range(RECENT_TASKS + 5):
        host.fetched(f"task-{i}")
    assert len(host._fetched) == RECENT_TASKS and host.tasks_fetched == 1 + RECENT_TASKS + 5  # "t" first


def core_snapshot():
    peers = [
        {"id": "super", "ip": "10.0.0.9", "port": 8001, "host_name": "sn", "supernode": True},
        {"id": "a-1", "ip": "10.0.0.1", "port": 15001, "host_name": "a", "uploads": True},
        {"id": "a-2", "ip": "10.0.0.1", "port": 15009, "host_name": "a", "uploads": True, "down": True},
        {"id": "b-1", "ip": "10.0.0.2", "port": 0, "host_name": "b", "uploads": False},
    ]
    clients = {
        "client-1": {"peer": "a-1", "status": "SUCCESS", "pieces_done": 2, "bitmap": "11"},
        "client-2": {"peer": "b-1", "status": "RUNNING", "pieces_done": 1, "bitmap": "10"},
    }
    tasks = [
        {
            "id": "t",
            "url": "http://r/v2/x/blobs/sha256:" + "a" * 64,
            "names": [],
            "status": "SUCCESS",
            "piece_total": 2,
            "cdn_pieces": 2,
            "clients": clients,
        }
    ]
    serves = [
        {"source": "super", "client": "a-1", "pieces": 2},
        {"source": "a-1", "client": "b-1", "pieces": 1},
        {"source": "a-2", "client": "b-1", "pieces": 3},
    ]
    flows = [{"source": "a-2", "client": "b-1", "running": 1}]
    return {"tasks": tasks, "peers": peers, "serves": serves, "flows": flows}


def test_peer_records_of_one_host_are_one_host_and_edges_merge():
    snap = view.console_snapshot(core_snapshot(), {"hosts": {"10.0.0.1": {"ip": "10.0.0.1", "bytes_up": 7}}}, [], 0)
    hosts = {h["key"]: h for h in snap["hosts"]}
    assert set(hosts) == {"10.0.0.1", "10.0.0.2"}
    a = hosts["10.0.0.1"]
    assert a["ids"] == ["a-1", "a-2"] and a["label"] == "10.0.0.1:15009" and a["state"] == "up"
    assert a["history"]["bytes_up"] == 7 and hosts["10.0.0.2"]["label"] == "10.0.0.2"
    assert snap["edges"] == [
        {"source": "10.0.0.1", "client": "10.0.0.2", "pieces": 4, "running": 1},
        {"source": "supernode", "client": "10.0.0.1", "pieces": 2, "running": 0},
    ]
    [task] = snap["tasks"]
    assert task["name"] == "x@sha256:" + "a" * 12 and task["progress"] == 0.75
    assert {h["host"] for h in task["holders"]} == {"supernode", "10.0.0.1", "10.0.0.2"}


def test_a_host_seen_only_in_history_is_gone():
    history = {"10.0.0.5": {"ip": "10.0.0.5", "port": 15005, "last_seen": 3, "bytes_down": 9}}
    snap = view.console_snapshot({"tasks": [], "peers": [], "serves": []}, {"hosts": history}, [], 0)
    assert [(h["label"], h["state"], h["history"]["bytes_down"]) for h in snap["hosts"]] == [
        ("10.0.0.5:15005", "gone", 9)
    ]


def test_long_bitmaps_become_bars_and_lists_are_capped():
    snap = core_snapshot()
    snap["tasks"][0]["piece_total"] = view.MAX_BITMAP + 1
    snap["tasks"][0]["clients"]["client-1"]["bitmap"] = "1" * (view.MAX_BITMAP + 1)
    snap["tasks"] = snap["tasks"] * (view.MAX_TASKS + 5)
    out = view.console_snapshot(snap, {}, [], 0)
    assert len(out["tasks"]) == view.MAX_TASKS and out["totals"]["tasks"] == view.MAX_TASKS + 5
    holder = out["tasks"][0]["holders"][1]
    assert holder["exact"] is False and holder["bitmap"] == ""
    many = core_snapshot()
    many["tasks"][0]["clients"] = {
        f"client-{i}": {"peer": "b-1", "status": "RUNNING", "pieces_done": 1, "bitmap": "10"}
        for i in range(view.MAX_HOLDERS + 50)
    }
    [task] = view.console_snapshot(many, {}, [], 0)["tasks"]
    assert len(task["holders"]) == 1 + view.MAX_HOLDERS and task["clients"] == view.MAX_HOLDERS + 50
    assert view.cut("x" * 100) == "x" * (view.MAX_TEXT - 1) + "…"


def test_the_token_is_taken_from_bearer_or_basic():
    basic = "Basic " + base64.b64encode(b"anyone:s3:cret").decode()
    assert auth.presented_token(basic) == "s3:cret"
    assert auth.presented_token("Bearer abc") == "abc"
    assert auth.presented_token("Basic %%%") == "" and auth.presented_token("Digest x") == ""
    assert auth.allowed("", "") and not auth.allowed("t", "") and auth.allowed("s3:cret", basic)
    assert not auth.allowed("t", "Bearer " + "t" * 5000)
