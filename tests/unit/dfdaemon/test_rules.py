import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.errors import BadInput
from dfdaemon.core import rules
from dfdaemon.core.rules import Mirror, ProxyRule, route_mirror, route_proxy

LAYER = "sha256:" + "ab" * 32


def test_first_match_wins_and_a_later_more_specific_rule_never_matches():
    rs = rules.parse_proxy_rules([{"regx": "/a", "direct": True}, {"regx": "/a/c"}])
    assert route_proxy("GET", "http://h/a/c/x", rs).via == rules.DIRECT
    rs = rules.parse_proxy_rules([{"regx": "/a/c"}, {"regx": "/a", "direct": True}])
    assert route_proxy("GET", "http://h/a/c/x", rs).via == rules.DFGET
    assert route_proxy("GET", "http://h/a/b", rs).via == rules.DIRECT


def test_use_https_and_redirect_rewrite_the_url():
    rs = (ProxyRule("blobs", use_https=True, redirect="mirror.local:5000"),)
    route = route_proxy("GET", f"http://reg.io/v2/x/blobs/{LAYER}", rs)
    assert route.url == f"https://mirror.local:5000/v2/x/blobs/{LAYER}"
    assert route.dfget and route.digest == LAYER


def test_direct_rules_still_rewrite():
    route = route_proxy("GET", "http://a/x", (ProxyRule("a", use_https=True, direct=True),))
    assert (route.via, route.url) == (rules.DIRECT, "https://a/x")


def test_unmatched_and_non_get_go_direct():
    rs = (ProxyRule(".*"),)
    assert route_proxy("GET", "http://h/x", ()).via == rules.DIRECT
    assert route_proxy("HEAD", "http://h/x", rs).via == rules.DIRECT
    assert route_proxy("POST", "http://h/x", rs).url == "http://h/x"


@given(st.lists(st.sampled_from(["x", "y", "/a", "/b"]), max_size=5), st.sampled_from(["/a/1", "/b/1", "/c"]))
def test_the_decision_is_the_first_matching_rule(regexes, path):
    rs = tuple(ProxyRule(r, direct=i % 2 == 0) for i, r in enumerate(regexes))
    url = "http://h" + path
    route = route_proxy("GET", url, rs)
    first = next((r for r in rs if r.matches(url)), None)
    assert route.via == (rules.DIRECT if first is None or first.direct else rules.DFGET)


def test_mirror_blobs_via_dfget_unless_direct():
    m = Mirror("http://127.0.0.1:5000")
    r = route_mirror("GET", f"/v2/library/x/blobs/{LAYER}", m)
    assert (r.via, r.url, r.digest) == (rules.DFGET, f"http://127.0.0.1:5000/v2/library/x/blobs/{LAYER}", LAYER)
    assert route_mirror("HEAD", f"/v2/library/x/blobs/{LAYER}", m).via == rules.DIRECT
    assert route_mirror("GET", "/v2/library/x/manifests/latest", m).via == rules.DIRECT
    assert route_mirror("GET", "/v2/", m).via == rules.DIRECT
    assert route_mirror("GET", f"/v2/x/blobs/{LAYER}", Mirror("http://r", direct=True)).via == rules.DIRECT


def test_mirror_joins_paths_and_drops_containerd_ns():
    m = Mirror("https://reg.io/prefix/")
    assert (
        route_mirror("GET", f"/v2/x/blobs/{LAYER}?ns=docker.io", m).url == f"https://reg.io/prefix/v2/x/blobs/{LAYER}"
    )
    assert route_mirror("GET", "/v2/x/tags/list?n=5&ns=docker.io", m).url == "https://reg.io/prefix/v2/x/tags/list?n=5"


def test_bad_rules_are_bad_input():
    for bad in ([{"regx": "("}], [{"direct": True}], "text", [{"regx": "a", "direct": "maybe"}]):
        with pytest.raises(BadInput):
            rules.parse_proxy_rules(bad)
    with pytest.raises(BadInput):
        rules.parse_hijack_hosts([{"regx": "["}])


def test_hijack_rule_and_tls_options():
    hosts = rules.parse_hijack_hosts([{"regx": "reg\\.io", "insecure": True}, {"regx": "reg", "certs": ["/ca.pem"]}])
    assert rules.hijack_rule("reg.io", hosts).insecure
    assert rules.hijack_rule("other", hosts) is None
    assert rules.tls_options("https://reg.io/v2/", None, hosts) == (True, ("/ca.pem",))
    m = Mirror("https://mirror.io", certs=("/m.pem",))
    assert rules.tls_options("https://mirror.io/v2/x", m, ()) == (False, ("/m.pem",))


def test_request_headers_to_dfget_headers():
    items = [
        ("Host", "127.0.0.1:65001"),
        ("Authorization", "Bearer abc"),
        ("Accept", "a"),
        ("Accept", "b"),
        ("Range", "bytes=5-"),
        ("Accept-Encoding", "gzip"),
        ("Connection", "close"),
        ("User-Agent", "docker/20"),
    ]
    assert rules.dfget_headers(items) == [
        "Authorization: Bearer abc",
        "Accept: a",
        "Accept: b",
        "User-Agent: docker/20",
    ]
    assert rules.forward_headers(items) == [
        ("Authorization", "Bearer abc"),
        ("Accept", "a"),
        ("Accept", "b"),
        ("Range", "bytes=5-"),
        ("Accept-Encoding", "gzip"),
        ("User-Agent", "docker/20"),
    ]


def test_dfget_argv():
    call = rules.DfgetCall(
        "/usr/bin/dfget", "/home/u/.small-dragonfly", "20M", ("n1:8002", "n2"), ("--callsystem", "x"), True
    )
    argv = rules.dfget_argv(
        call, "http://r/v2/x", "/repo/uuid", ["Authorization: Bearer a"], True, ("/a.pem", "/b.pem")
    )
    assert argv == [
        "/usr/bin/dfget",
        "-u",
        "http://r/v2/x",
        "-o",
        "/repo/uuid",
        "--callsystem",
        "x",
        "--dfdaemon",
        "--verbose",
        "-s",
        "20M",
        "--totallimit",
        "20M",
        "--home",
        "/home/u/.small-dragonfly",
        "--node",
        "n1:8002,n2",
        "--header",
        "Authorization: Bearer a",
        "--insecure",
        "--cacerts",
        "/a.pem,/b.pem",
    ]


def test_stale_files_and_default_ratelimit():
    entries = [("/r/a", 0.0), ("/r/b", 3000.0), ("/r/c", 0.0)]
    assert rules.stale_files(entries, 3700.0, 3600.0, frozenset({"/r/c"})) == ["/r/a"]
    assert rules.default_ratelimit(8, [10000], 20 << 20) == 20 << 20
    assert rules.default_ratelimit(32, [1000, 10000], 20 << 20) == 1_250_000_000
    assert rules.default_ratelimit(32, [], 20 << 20) == 20 << 20


def test_layer_digest():
    assert rules.layer_digest(f"http://r/v2/x/blobs/{LAYER}") == LAYER
    assert rules.layer_digest("http://r/v2/x/blobs/sha256:short") == ""


def test_connect_allow_list():
    from dfdaemon.core.rules import HijackHost, connect_allowed, parse_connect_allow

    assert connect_allowed("anything", 443, (), ())  # v1: no list, any target
    allow = parse_connect_allow([r"^registry\.example:443$"])
    assert connect_allowed("registry.example", 443, allow, ())
    assert not connect_allowed("registry.example", 22, allow, ())
    assert not connect_allowed("evil.example", 443, allow, ())
    assert connect_allowed("hub.example", 443, allow, (HijackHost("hub"),))  # a hijack rule allows it
    with pytest.raises(BadInput):
        parse_connect_allow(["("])


def test_only_blobs_announced_under_the_threshold_go_direct():
    from dfdaemon.core.rules import small_blob

    assert small_blob(335, 1 << 20) and small_blob(0, 1 << 20)
    assert not small_blob(1 << 20, 1 << 20)  # one whole piece: P2P
    assert not small_blob(None, 1 << 20)  # unknown length: P2P
    assert not small_blob(335, 0)  # 0 switches it off (v1)
