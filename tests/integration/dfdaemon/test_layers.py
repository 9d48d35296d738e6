"""Layers through the mirror: streamed via (fake) dfget, checked, ranged, with fallbacks."""

import http.client
import os
import time

import pytest
import requests

from tests.integration.dfdaemon.conftest import metric

MiB = 1024 * 1024


def blob(size=3 * MiB + 12345):
    return os.urandom(size)


def get(daemon, path, **kw):
    return requests.get(daemon.url + path, timeout=30, **kw)


def test_layer_streams_before_dfget_finishes(harness, registry):
    data = blob(4 * MiB + 7)
    digest = registry.add_blob(data)
    harness.control(mode="ok", head=2)  # pieces 0 and 2 written, then dfget waits
    d = harness.start()
    path = f"/v2/library/x/blobs/{digest}"
    with requests.get(d.url + path, headers={"Authorization": "Bearer t0k"}, stream=True, timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["Content-Length"] == str(len(data))
        first = r.raw.read(512 * 1024)
        # the first bytes arrived while dfget is still holding the rest of the layer
        assert first == data[: 512 * 1024]
        assert not harness.release_path.exists()
        harness.release()
        rest = r.raw.read()
    assert first + rest == data
    [argv] = harness.calls()
    assert argv[argv.index("-u") + 1] == registry.url + path
    headers = [argv[i + 1] for i, a in enumerate(argv) if a == "--header"]
    assert "Authorization: Bearer t0k" in headers
    assert not any(h.lower().startswith(("host:", "range:", "accept-encoding:")) for h in headers)
    assert (
        "--dfdaemon" in argv and argv[argv.index("-s") + 1] == "20M" and argv[argv.index("--totallimit") + 1] == "20M"
    )
    assert argv[argv.index("--node") + 1] == "127.0.0.1:8002"
    assert metric(d, "dragonfly_dfdaemon_layer_requests_total") == 1
    assert metric(d, 'dragonfly_dfdaemon_layer_requests_total{via="dfget"}') == 1
    assert not registry.seen("GET", digest)  # the layer never came from the registry


def test_each_layer_through_p2p_is_one_info_line_without_verbose(harness, registry, caplog):
    """docs/operations.md: an operator checking that docker really uses dfdaemon looks for these
    lines; request lines need --verbose, these must not."""
    data = blob()
    digest = registry.add_blob(data)
    harness.control(mode="ok")
    d = harness.start()
    with caplog.at_level("INFO", logger="dfdaemon"):
        assert get(d, f"/v2/library/x/blobs/{digest}").content == data
    lines = [r.getMessage() for r in caplog.records if r.levelname == "INFO" and "handed to dfget" in r.getMessage()]
    assert lines == [f"url={registry.url}/v2/library/x/blobs/{digest} layer handed to dfget (P2P)"]


def test_range_retry_joins_the_running_task(harness, registry):
    data = blob()
    digest = registry.add_blob(data)
    harness.control(mode="ok", head=1)
    d = harness.start()
    path = f"/v2/library/x/blobs/{digest}"
    with requests.get(d.url + path, stream=True, timeout=30) as r:
        assert r.raw.read(1000) == data[:1000]
    # docker's retry after a broken read: Range from where it got to
    harness.release()
    r = get(d, path, headers={"Range": "bytes=1000-"})
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 1000-{len(data) - 1}/{len(data)}"
    assert r.content == data[1000:]
    r = get(d, path, headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == data[-10:]
    r = get(d, path, headers={"Range": f"bytes={len(data)}-"})
    assert r.status_code == 416
    assert len(harness.calls()) == 1  # one dfget task for all of them


def test_digest_mismatch_aborts_the_response(harness, registry):
    data = blob()
    digest = registry.add_blob(data)
    harness.control(mode="corrupt")
    d = harness.start()
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get(d, f"/v2/library/x/blobs/{digest}")
    assert metric(d, "dragonfly_dfdaemon_digest_mismatch_total") == 1


def test_digest_mismatch_aborts_without_content_length(harness, registry):
    data = blob(2 * MiB)
    digest = registry.add_blob(data)
    harness.control(mode="corrupt")
    d = harness.start()
    conn = http.client.HTTPConnection("127.0.0.1", int(d.url.rsplit(":", 1)[1]), timeout=30)
    conn.request("GET", f"/v2/library/x/blobs/{digest}")  # HTTP/1.1: chunked if the length is unknown
    resp = conn.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        resp.read()
    conn.close()


def test_dfget_failure_falls_back_to_the_source(harness, registry):
    data = blob()
    digest = registry.add_blob(data)
    harness.control(mode="fail")
    d = harness.start()
    r = get(d, f"/v2/library/x/blobs/{digest}", headers={"Authorization": "Bearer mine"})
    assert r.status_code == 200 and r.content == data
    [(_, _, hdrs)] = registry.seen("GET", digest)
    assert ("Authorization", "Bearer mine") in hdrs  # the requester's own credentials
    assert metric(d, 'dragonfly_dfdaemon_fallbacks_total{when="before_first_byte"}') == 1
    # a retry does not start another dfget: the failed task sends it straight to the source
    assert get(d, f"/v2/library/x/blobs/{digest}", headers={"Authorization": "Bearer mine"}).content == data
    assert len(harness.calls()) == 1


def test_dfget_failure_mid_stream_continues_from_the_source(harness, registry):
    data = blob()
    digest = registry.add_blob(data)
    harness.control(mode="fail_mid", head=1)
    d = harness.start()
    with requests.get(d.url + f"/v2/library/x/blobs/{digest}", stream=True, timeout=30) as r:
        first = r.raw.read(1000)
        harness.release()
        assert r.status_code == 200 and first + r.raw.read() == data
    [(_, _, hdrs)] = registry.seen("GET", digest)
    assert dict(hdrs)["Range"].startswith("bytes=") and dict(hdrs)["Range"] != "bytes=0-"
    assert metric(d, 'dragonfly_dfdaemon_fallbacks_total{when="mid_stream"}') == 1


def test_sequential_back_source_file_is_followed(harness, registry):
    data = blob()
    digest = registry.add_blob(data)
    harness.control(mode="backsource", head=1)
    d = harness.start()
    with requests.get(d.url + f"/v2/library/x/blobs/{digest}", stream=True, timeout=30) as r:
        assert r.raw.read(1000) == data[:1000]
        harness.release()
        assert data[:1000] + r.raw.read() == data


def test_registry_refusal_is_relayed_and_no_dfget_runs(harness, registry):
    data = blob(1000)
    digest = registry.add_blob(data)
    registry.token = "secret"
    d = harness.start()
    r = get(d, f"/v2/library/x/blobs/{digest}")
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers
    assert harness.calls() == []
    r = get(d, f"/v2/library/x/blobs/{digest}", headers={"Authorization": "Bearer secret"})
    assert r.status_code == 200 and r.content == data
    [argv] = harness.calls()
    assert "Authorization: Bearer secret" in argv


def test_unknown_layer_is_404_from_the_registry(harness, registry):
    d = harness.start()
    r = get(d, "/v2/library/x/blobs/sha256:" + "0" * 64)
    assert r.status_code == 404 and harness.calls() == []


def test_direct_mirror_never_runs_dfget(harness, registry):
    data = blob(5000)
    digest = registry.add_blob(data)
    d = harness.start(registry_direct=True)
    assert get(d, f"/v2/library/x/blobs/{digest}").content == data
    assert harness.calls() == []


def test_containerd_ns_query_is_dropped(harness, registry):
    data = blob(5000)
    digest = registry.add_blob(data)
    d = harness.start()
    assert get(d, f"/v2/library/x/blobs/{digest}?ns=docker.io").content == data
    [argv] = harness.calls()
    assert argv[argv.index("-u") + 1] == f"{registry.url}/v2/library/x/blobs/{digest}"


def test_manifest_is_proxied_with_repeated_accept_headers(harness, registry):
    d = harness.start()
    conn = http.client.HTTPConnection("127.0.0.1", int(d.url.rsplit(":", 1)[1]), timeout=10)
    conn.putrequest("GET", "/v2/library/x/manifests/1", skip_accept_encoding=True)
    accepts = [f"application/type-{i}" for i in range(6)]
    for a in accepts:
        conn.putheader("Accept", a)
    conn.putheader("Connection", "close")
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.read() and resp.getheader("Content-Type").startswith("application/vnd.docker")
    [(_, _, hdrs)] = registry.seen("GET", "/manifests/")
    assert [v for k, v in hdrs if k == "Accept"] == accepts
    assert harness.calls() == []
    assert get(d, "/v2/").json() == {}
    assert metric(d, 'dragonfly_dfdaemon_requests_total{kind="mirror"}') == 2


def test_local_endpoints(harness):
    d = harness.start()
    assert get(d, "/args").text.startswith("dfdaemon --test")
    env = get(d, "/env").json()
    assert env["port"] == 65001 and env["registry_mirror"]["remote"] == harness.registry.url
    assert get(d, "/debug/version").json()["version"] == "1.0.6"
    assert "dragonfly_dfdaemon_build_info{" in get(d, "/metrics").text


def test_finished_layers_are_cleaned_after_retention(harness, registry):
    data = blob(5000)
    digest = registry.add_blob(data)
    d = harness.start(layer_retention="0s")
    assert get(d, f"/v2/library/x/blobs/{digest}").content == data
    repo = d.cfg.localrepo
    old, fresh = os.path.join(repo, "old-leftover"), os.path.join(repo, "fresh-leftover")
    for p in (old, fresh):
        open(p, "w").close()
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    deadline = time.monotonic() + 10
    while sorted(os.listdir(repo)) != ["fresh-leftover"] and time.monotonic() < deadline:
        d.cleaner.run_once()  # the finished layer goes once its reader has detached
        time.sleep(0.05)
    assert sorted(os.listdir(repo)) == ["fresh-leftover"]
