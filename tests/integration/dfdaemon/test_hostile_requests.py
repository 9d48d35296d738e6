"""dfdaemon facing malformed requests (RELIABILITY.md): every one gets a clean HTTP error (or a
closed connection for what is not HTTP at all), nothing crashes, and the daemon keeps serving.

CONNECT: like v1, dfdaemon tunnels CONNECT to any host unless `connect_allow` lists the targets
it may reach; a host no rule allows then gets 403. An unusable target (malformed, out-of-range
port, unresolvable, dead) gets a 4xx/5xx answer instead of a traceback or a hang.
"""

import socket

import pytest
import requests

from tests.support.rawhttp import exchange as raw_exchange


def port_of(d) -> int:
    return int(d.url.rsplit(":", 1)[1])


def exchange(d, raw: bytes, timeout: float = 20) -> bytes:
    return raw_exchange(port_of(d), raw, timeout)


def status_of(answer: bytes) -> int:
    """The status code (also of an HTTP/0.9-style error page, which has no status line)."""
    line = answer.split(b"\r\n", 1)[0].split()
    if len(line) > 1 and line[0].startswith(b"HTTP/") and line[1].isdigit():
        return int(line[1])
    marker = b"Error code: "
    if marker in answer:
        return int(answer.split(marker, 1)[1][:3])
    return 0


def still_serving(d) -> None:
    s = requests.Session()
    s.trust_env = False
    assert s.get(d.url + "/debug/version", timeout=10).status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "127.0.0.1:99999",  # port out of range
        "127.0.0.1:-1",
        "[::1:443",  # broken IPv6 literal
        "no-such-host.invalid:443",
        "",  # nothing at all
        "a" * 300 + ":443",  # a label longer than DNS allows
    ],
)
def test_unusable_connect_targets_get_an_http_error(harness, target):
    d = harness.start()
    answer = exchange(d, f"CONNECT {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert 400 <= status_of(answer) < 600, answer[:200]
    still_serving(d)


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 64,  # TLS to the plain-HTTP port
        b"GET http://127.0.0.1:1/x HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad-Header-Without-Colon\r\n\r\n",
    ],
)
def test_malformed_requests_get_a_clean_error_or_a_closed_connection(harness, raw):
    d = harness.start()
    answer = exchange(d, raw)
    assert answer == b"" or 400 <= status_of(answer) < 600, answer[:200]
    still_serving(d)


def test_oversized_headers_are_refused(harness):
    d = harness.start()
    huge_line = b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n"
    assert 400 <= status_of(exchange(d, huge_line)) < 500
    many = b"GET /v2/ HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n"
    assert 400 <= status_of(exchange(d, many)) < 500
    still_serving(d)


def test_a_proxied_url_to_nowhere_is_a_clean_503(harness):
    d = harness.start()
    s = requests.Session()
    s.trust_env = False
    with socket.socket() as closed:  # a loopback port nobody listens on (port 1 may be taken here)
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    r = s.get(f"http://127.0.0.1:{port}/nothing", proxies={"http": d.url}, timeout=30)
    assert r.status_code in (502, 503)
    assert f"127.0.0.1:{port} refused the connection" in r.text  # the cause, not urllib3's page
    assert "HTTPConnectionPool" not in r.text and "NewConnectionError" not in r.text
    still_serving(d)


def test_connect_to_a_host_no_rule_allows_is_refused(harness):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        allowed = listener.getsockname()[1]
        d = harness.start(connect_allow=[rf"^127\.0\.0\.1:{allowed}$"])
        refused = exchange(d, b"CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(refused) == 403, refused[:200]
        with socket.create_connection(("127.0.0.1", port_of(d)), timeout=10) as c:
            c.sendall(f"CONNECT 127.0.0.1:{allowed} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert c.recv(1024).startswith(b"HTTP/1.1 200")
    still_serving(d)


@pytest.mark.parametrize("encoding", ["x-anything", "gzip", "identity, x-evil"])
def test_a_content_encoding_does_not_switch_off_the_digest_check(harness, registry, encoding):
    """Attack (issue 11 item 11): an upstream answering a digest-addressed blob with any
    Content-Encoding got its bytes relayed unchecked. Digest-addressed requests now ask for
    identity, and an encoded answer is refused (502) because it cannot be checked; nothing of
    the forged body reaches the client."""
    digest = registry.add_blob(b"the real layer")
    forged = b"FORGED-LAYER-BYTES"
    registry.tamper = (encoding, forged)
    d = harness.start(registry_direct=True)
    answer = exchange(
        d,
        f"GET /v2/x/blobs/{digest} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n".encode(),
    )
    assert status_of(answer) == 502, answer[:300]
    assert forged not in answer
    (sent,) = [h for m, p, h in registry.requests if m == "GET" and digest in p]
    assert [v for k, v in sent if k.lower() == "accept-encoding"] == ["identity"]
    still_serving(d)


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        b"Content-Length: 5\r\nContent-Length: 6\r\n",
        b"Transfer-Encoding: chunked, identity\r\n",
        b"Transfer-Encoding: xchunked\r\n",
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        b"Content-Length: +5\r\n",
    ],
)
def test_ambiguous_request_framing_is_refused_not_smuggled(harness, registry, framing):
    """Attack (issue 11 item 11): with both Content-Length and Transfer-Encoding, dfdaemon framed the
    body by Content-Length while the next hop may use chunked: a second request hidden in the body
    reaches the upstream. Any ambiguous framing is a 400 and the connection is closed."""
    d = harness.start(registry_direct=True)
    hidden = b"GET /v2/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    body = b"0\r\n\r\n" + hidden
    answer = exchange(d, b"POST /v2/x/blobs/uploads/ HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n" + body)
    assert status_of(answer) == 400, answer[:300]
    assert answer.count(b"HTTP/1.1 ") == 1  # nothing after the 400: the connection was closed
    assert not any("smuggled" in p for _, p, _ in registry.requests)
    assert not any("uploads" in p for _, p, _ in registry.requests)
    still_serving(d)
