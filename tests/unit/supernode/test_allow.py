import pytest

from supernode.core import allow


@pytest.mark.parametrize(
    "url",
    [
        "http://allowed@other.test/x",  # userinfo naming the allowed host
        "http://allowed:pw@other.test/x",
        "http://allowed\\@other.test/x",  # parsers disagree about the host
        "http://a@allowed@other.test/x",
        "http://allowed.test.other.test/x",
        "ftp://allowed.test/x",
        "http://allowed.test:99999/x",
    ],
)
def test_tricks_do_not_pass_a_pattern_for_one_host(url):
    assert not allowed_by_host(url)


def allowed_by_host(url):
    return allow.allowed(url, [r"^https?://allowed(\.test)?(:\d+)?/"])


def test_the_named_host_passes_with_or_without_userinfo():
    assert allowed_by_host("http://allowed.test/x")
    assert allowed_by_host("http://user:pw@ALLOWED.test:8080/x?q=1")
    assert allow.fetched_form("http://u:p@Allowed.Test:81/a?b#c") == "http://allowed.test:81/a?b"


def test_empty_list_allows_any_well_formed_url_only():
    assert allow.allowed("http://anything.test/", [])
    assert not allow.allowed("http://a b/", [])


def test_broken_patterns_allow_nothing():
    assert not allow.allowed("http://x.test/", ["("])


def test_check_names_the_list_and_hides_userinfo_and_query():
    with pytest.raises(allow.UrlRefused) as e:
        allow.check("http://u:secret@x.test/p?token=t0k", [("sourceAllow", (r"^http://y\.test/",))])
    assert "sourceAllow" in str(e.value) and "http://x.test/p" in str(e.value)
    assert "secret" not in str(e.value) and "t0k" not in str(e.value)


def test_redirect_hops():
    assert allow.next_hop("http://a.test/x/y", 302, "../z") == "http://a.test/z"
    assert allow.next_hop("http://a.test/x", 200, "http://b.test/") is None
    assert allow.next_hop("http://a.test/x", 301, None) is None


def test_credentials_stay_on_the_origin_the_user_named():
    headers = {"Authorization": "Basic x", "X-Api-Key": "k", "Accept": "*/*", "Range": "bytes=1-"}
    assert allow.headers_for("http://a.test:80/other", "http://a.test/x", headers) == headers
    for elsewhere in ("http://b.test/x", "https://a.test/x", "http://a.test:81/x"):
        assert allow.headers_for(elsewhere, "http://a.test/x", headers) == {"Accept": "*/*", "Range": "bytes=1-"}
