"""dfdaemon as an HTTP(S) proxy: absolute-URI rules, CONNECT tunnels, HTTPS hijacking with a gen-ca CA."""

import datetime
import os
import socket
import threading

import pytest
import requests
from click.testing import CliRunner
from cryptography import x509

from dfdaemon.cli import main as cli
from dfdaemon.tls import CertMinter
from tests.integration.dfdaemon.fakes import Registry, serve


def proxies(d):
    return {"http": d.url, "https": d.url}


def test_absolute_uri_rules(harness, registry):
    data = os.urandom(200_000)
    digest = registry.add_blob(data)
    d = harness.start(proxies=[{"regx": "blobs/sha256.*"}])
    s = requests.Session()
    s.trust_env = False
    r = s.get(f"{registry.url}/v2/x/blobs/{digest}", proxies=proxies(d), timeout=30)
    assert r.status_code == 200 and r.content == data
    assert len(harness.calls()) == 1  # matched, not direct -> dfget
    r = s.get(f"{registry.url}/hello", proxies=proxies(d), timeout=30)
    assert r.text == "hello world\n"  # unmatched -> direct
    r = s.head(f"{registry.url}/v2/x/blobs/{digest}", proxies=proxies(d), timeout=30)
    assert r.status_code == 200 and len(harness.calls()) == 1  # HEAD is never dfget


def test_connect_tunnel(harness):
    echo = socket.socket()
    echo.bind(("127.0.0.1", 0))
    echo.listen()

    def serve_one():
        conn, _ = echo.accept()
        with conn:
            while data := conn.recv(1024):
                conn.sendall(data.upper())

    threading.Thread(target=serve_one, daemon=True).start()
    d = harness.start()
    with socket.create_connection(("127.0.0.1", int(d.url.rsplit(":", 1)[1])), timeout=10) as c:
        port = echo.getsockname()[1]
        c.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        f = c.makefile("rb")
        assert f.readline().startswith(b"HTTP/1.1 200")
        while f.readline() not in (b"\r\n", b""):
            pass
        c.sendall(b"ping")
        assert f.read(4) == b"PING"
    echo.close()


def test_connect_to_a_dead_port_is_503(harness):
    d = harness.start()
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()
    with socket.create_connection(("127.0.0.1", int(d.url.rsplit(":", 1)[1])), timeout=20) as c:
        c.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
        assert c.makefile("rb").readline().startswith(b"HTTP/1.1 503")


@pytest.fixture
def ca(tmp_path):
    key, crt = tmp_path / "ca.key", tmp_path / "ca.crt"
    res = CliRunner().invoke(
        cli,
        [
            "gen-ca",
            "--common-name",
            "test-ca",
            "--key-output",
            str(key),
            "--cert-output",
            str(crt),
            "--expire-duration",
            "24h",
        ],
    )
    assert res.exit_code == 0, res.output
    again = CliRunner().invoke(cli, ["gen-ca", "--key-output", str(key), "--cert-output", str(crt)])
    assert again.exit_code != 0 and "--overwrite" in again.output
    return str(crt), str(key)


@pytest.fixture
def tls_registry(tmp_path, ca):
    """A registry over HTTPS whose certificate our test CA signed (a different CA would do too)."""
    blob_dir = tmp_path / "tls-blobs"
    blob_dir.mkdir()
    reg = Registry(str(blob_dir))
    ctx = CertMinter(*ca).context_for("127.0.0.1")
    server = serve(reg, ctx)
    reg.port = server.server_address[1]
    yield reg
    server.shutdown()
    server.server_close()


def test_hijacked_https_goes_through_dfget(harness, registry, tls_registry, ca, tmp_path):
    crt, key = ca
    data = os.urandom(300_000)
    digest = tls_registry.add_blob(data)
    registry.add_blob(data)  # where the fake dfget reads layers from
    d = harness.start(
        hijack_cert=crt,
        hijack_key=key,
        hijack_hosts=[{"regx": "127\\.0\\.0\\.1", "certs": [crt]}],
        proxies=[{"regx": "blobs/sha256.*"}],
    )
    s = requests.Session()
    s.trust_env = False
    url = f"https://127.0.0.1:{tls_registry.port}/v2/x/blobs/{digest}"
    r = s.get(url, proxies=proxies(d), verify=crt, timeout=30)
    assert r.status_code == 200 and r.content == data
    [argv] = harness.calls()
    assert argv[argv.index("-u") + 1] == url and argv[argv.index("--cacerts") + 1] == crt
    r = s.get(f"https://127.0.0.1:{tls_registry.port}/hello", proxies=proxies(d), verify=crt, timeout=30)
    assert r.text == "hello world\n"
    assert tls_registry.seen("GET", "/hello")
    # the leaf the client saw was minted for the host, signed by our CA, and cached
    assert d.minter.cached_hosts() == ["127.0.0.1"]
    pem, _ = d.minter.leaf_pem("127.0.0.1", datetime.datetime.now(datetime.UTC))
    leaf = x509.load_pem_x509_certificate(pem)
    assert leaf.issuer.rfc4514_string() == "CN=test-ca"


def test_unmatched_connect_is_tunnelled_not_hijacked(harness, tls_registry, ca):
    crt, key = ca
    d = harness.start(hijack_cert=crt, hijack_key=key, hijack_hosts=[{"regx": "^registry\\.example$"}])
    s = requests.Session()
    s.trust_env = False
    r = s.get(f"https://127.0.0.1:{tls_registry.port}/hello", proxies=proxies(d), verify=crt, timeout=30)
    assert r.text == "hello world\n"
    assert d.minter.cached_hosts() == []
    assert 'kind="connect_tunnel"' in d.metrics.render().decode()


def test_proxy_served_over_tls(harness, ca, registry):
    crt, key = ca
    pem_dir = os.path.dirname(crt)
    leaf_ctx_minter = CertMinter(crt, key)
    cert_pem, _ = leaf_ctx_minter.leaf_pem("127.0.0.1", datetime.datetime.now(datetime.UTC))
    from cryptography.hazmat.primitives import serialization

    with open(os.path.join(pem_dir, "srv.crt"), "wb") as f:
        f.write(cert_pem)
    with open(os.path.join(pem_dir, "srv.key"), "wb") as f:
        f.write(
            leaf_ctx_minter._leaf_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    d = harness.start(cert_pem=os.path.join(pem_dir, "srv.crt"), key_pem=os.path.join(pem_dir, "srv.key"))
    url = d.url.replace("http://", "https://")
    assert requests.get(url + "/v2/", verify=crt, timeout=10).json() == {}
