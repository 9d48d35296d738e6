"""common.source_failures: a failed connection to a source named in one line (docs/errors.md)."""

import socket
import ssl

import pytest
import requests
import urllib3

from common.source_failures import Cause, explain, where


def _requests_shape(inner: BaseException, url: str) -> BaseException:
    """How requests wraps an OS/TLS error: ConnectionError(MaxRetryError(reason=<urllib3 error>))."""
    wrapped = (
        urllib3.exceptions.SSLError(inner)
        if isinstance(inner, ssl.SSLError)
        else urllib3.exceptions.NewConnectionError(None, f"Failed to establish a new connection: {inner}")
    )
    wrapped.__context__ = inner
    retry = urllib3.exceptions.MaxRetryError(None, "/f.bin", reason=wrapped)
    cls = requests.exceptions.SSLError if isinstance(inner, ssl.SSLError) else requests.exceptions.ConnectionError
    return cls(retry)


def test_an_untrusted_certificate_names_the_host_and_the_flags_that_fix_it():
    inner = ssl.SSLCertVerificationError(
        1,
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
        "unable to get local issuer certificate (_ssl.c:1006)",
    )
    inner.verify_message = "unable to get local issuer certificate"
    found = explain(_requests_shape(inner, "https://origin.example:8443/f.bin"), "https://origin.example:8443/f.bin")
    assert found.cause is Cause.TLS_UNTRUSTED and found.definite
    line = found.line()
    assert "origin.example:8443" in line and "not trusted" in line
    assert "unable to get local issuer certificate" in line
    assert "--cacerts" in line and "--insecure" in line
    assert "HTTPSConnectionPool" not in line and "Max retries" not in line


def test_a_certificate_for_another_name_says_so_not_that_the_ca_is_missing():
    inner = ssl.SSLCertVerificationError(1, "certificate verify failed")
    inner.verify_message = "IP address mismatch, certificate is not valid for '127.0.0.1'."
    found = explain(_requests_shape(inner, "https://127.0.0.1:8443/x"), "https://127.0.0.1:8443/x")
    assert found.cause is Cause.TLS_WRONG_NAME and found.definite
    assert found.line() == (
        "the TLS certificate of 127.0.0.1:8443 is for another name (IP address mismatch, "
        "certificate is not valid for '127.0.0.1'): use a URL with a name it lists, or skip "
        "verification with --insecure"
    )


def test_tls_to_a_plain_http_port_is_a_tls_failure_not_a_certificate_one():
    inner = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    found = explain(_requests_shape(inner, "https://h:80/x"), "https://h:80/x")
    assert found.cause is Cause.TLS and found.detail == "wrong version number"
    assert "h:80" in found.line()


def test_a_refused_connection_is_one_line_with_host_and_port():
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/f.bin"
    with pytest.raises(requests.RequestException) as raised:
        requests.get(url, timeout=5)
    found = explain(raised.value, url)
    assert found.cause is Cause.REFUSED and found.definite
    assert found.line() == f"127.0.0.1:{port} refused the connection: is the server running, and is the port right?"


def test_an_unknown_host_name_is_a_dns_failure():
    inner = socket.gaierror(-2, "Name or service not known")
    found = explain(_requests_shape(inner, "http://nosuch.invalid/f"), "http://nosuch.invalid/f")
    assert found.cause is Cause.DNS and found.detail == "Name or service not known"
    assert found.line() == "the host name of nosuch.invalid:80 cannot be resolved (Name or service not known)"


def test_a_timeout_is_not_definite():
    err = requests.exceptions.ConnectTimeout(urllib3.exceptions.ConnectTimeoutError(None, "timed out"))
    found = explain(err, "https://h/x")
    assert found.cause is Cause.TIMEOUT and not found.definite
    assert found.line() == "h:443 did not answer in time"


def test_an_unknown_error_is_left_alone():
    assert explain(ValueError("something else"), "http://h/x") is None


def test_a_cyclic_chain_ends():
    a, b = OSError("a"), OSError("b")
    a.__context__, b.__context__ = b, a
    assert explain(a, "http://h/") is None


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://h/x", "h:80"),
        ("https://h/x", "h:443"),
        ("https://u:p@h:8443/x?q", "h:8443"),
        ("http://[::1]:81/", "[::1]:81"),
        ("http://h:99999/", "the source"),
    ],
)
def test_where_is_host_and_port_without_userinfo(url, expected):
    assert where(url) == expected


def test_the_certificate_fix_is_said_to_whoever_can_act_on_it():
    from common.source_failures import DFDAEMON_TLS_FIX

    inner = ssl.SSLCertVerificationError(1, "certificate verify failed")
    inner.verify_message = "certificate has expired"
    found = explain(_requests_shape(inner, "https://reg:5000/v2/"), "https://reg:5000/v2/")
    line = found.line(DFDAEMON_TLS_FIX)
    assert "reg:5000 is not trusted (certificate has expired)" in line
    assert "registry_mirror.certs" in line and "--cacerts" not in line
