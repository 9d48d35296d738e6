"""Scenario: an HTTPS registry reached through dfdaemon in PROXY mode with `hijack_https`.

The registry (docker-registry with `http.tls`) serves a certificate signed by a test CA, for the
name `localhost` (in its SAN; /etc/hosts maps it to 127.0.0.1). dfdaemon runs with a CA made by
`dfdaemon gen-ca` as its hijack certificate, a hijack rule for `localhost` that trusts the
registry's CA, and a proxy rule sending blob GETs to dfget.

The client is the Python registry client (tests/e2e/dfdaemon_support/client.py) with
`proxies={"https": <dfdaemon>}` and `verify=<dfdaemon's CA>`: it CONNECTs through dfdaemon, which
terminates TLS with a leaf minted for `localhost`. dockerd and skopeo cannot be the client here:
Go's proxy selection never proxies loopback names or addresses (lab NOTES), and the registry
must stay on loopback.
"""

import os
import shutil
import subprocess

import pytest
import requests

from tests.e2e.dfdaemon_support.client import RegistryClient
from tests.e2e.dfdaemon_support.images import build_image, push
from tests.e2e.dfdaemon_support.lab import Dfdaemon, make_ca, make_server_cert, start_registry

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dfdaemon_mode")]
NAME = "team/secure"


def test_https_registry_layers_go_through_dfget_via_hijacked_connect(tmp_path, supernode):
    stopping = []
    try:
        registry_ca = make_ca(str(tmp_path), "registry-ca")
        cert = make_server_cert(str(tmp_path), registry_ca, ["localhost", "127.0.0.1"], "registry")
        proc, registry = start_registry(str(tmp_path), tls=cert, ca=registry_ca[0], host="localhost")
        stopping.append(proc)
        assert registry.startswith("https://localhost:")
        image = build_image(3, layer_size=1024 * 1024)
        push(registry, NAME, "1", image, verify=registry_ca[0])

        ca_key, ca_crt = str(tmp_path / "dfdaemon-ca.key"), str(tmp_path / "dfdaemon-ca.crt")
        res = subprocess.run(
            [
                shutil.which("dfdaemon"),
                "gen-ca",
                "--common-name",
                "dfdaemon test CA",
                "--key-output",
                ca_key,
                "--cert-output",
                ca_crt,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == 0 and os.path.exists(ca_crt), res.stdout + res.stderr
        config = {
            "hijack_https": {
                "cert": ca_crt,
                "key": ca_key,
                "hosts": [{"regx": "^localhost$", "certs": [registry_ca[0]]}],
            },
            "proxies": [{"regx": r"/v2/.+/blobs/sha256:"}],
        }
        daemon = Dfdaemon(
            str(tmp_path), "host1", "http://127.0.0.1:9", f"127.0.0.1:{supernode.api_port}", config=config
        )
        stopping.append(daemon)

        # without dfdaemon's CA the client must refuse the minted certificate: TLS really is terminated there
        with pytest.raises(requests.exceptions.SSLError):
            RegistryClient(registry, proxy=daemon.url, verify=registry_ca[0]).ping()

        pulled = RegistryClient(registry, proxy=daemon.url, verify=ca_crt).pull(NAME, "1")
        assert pulled.layer_digests == image.layer_digests  # every blob verified by the client
        assert pulled.blobs[image.config_digest] == image.config
        for digest, blob in image.layers:
            assert pulled.blobs[digest] == blob

        tasks = requests.get(supernode.api_url + "/api/v1/tasks", timeout=5).json()
        urls = {t["rawURL"]: t["cdnStatus"] for t in tasks}
        for digest in image.layer_digests:
            url = f"{registry}/v2/{NAME}/blobs/{digest}"
            assert urls.get(url) == "SUCCESS", urls
        assert not any("/manifests/" in u for u in urls)
        assert supernode.metric("dragonfly_supernode_cdn_download_size_bytes_total") >= sum(
            len(b) for _, b in image.layers
        )
        assert daemon.metric('dragonfly_dfdaemon_requests_total{kind="connect_hijack"}') >= 1
        assert daemon.metric('dragonfly_dfdaemon_layer_requests_total{via="dfget"}') >= 3
        assert daemon.metric("dragonfly_dfdaemon_fallbacks_total") == 0, daemon.logs()[-3000:]
        assert daemon.metric("dragonfly_dfdaemon_digest_mismatch_total") == 0
    finally:
        for p in reversed(stopping):
            p.stop()
