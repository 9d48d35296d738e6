"""Scenario (README, Container runtimes): skopeo (containers/image, as podman and CRI-O) pulls a
private image through dfdaemon as a registry mirror.

containers/image never sends a registry's credentials to a mirror on another host, and looks the
mirror's credentials up by the mirror's own address. With credentials stored only for the
registry, the mirror answers 401 and skopeo falls back to the registry itself: the pull works but
nothing goes through P2P, and nothing says so. With the same credentials also stored for the
mirror's address (`skopeo login 127.0.0.1:<dfdaemon>`, what the README tells users), the layers go
through dfget. Skipped when skopeo or docker-registry is not installed.
"""

import json
import os
import shutil
import subprocess

import pytest

from tests.e2e.dfdaemon_support.images import build_image, push
from tests.e2e.dfdaemon_support.lab import Dfdaemon, start_registry, write_htpasswd

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not shutil.which("skopeo") or not shutil.which("docker-registry"),
        reason="needs skopeo and docker-registry (apt-get install skopeo docker-registry)",
    ),
]
USER, PASSWORD = "alice", "wonderland"
NAME = "library/private"


def skopeo(*args, tmp, timeout=120) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(tmp), "XDG_RUNTIME_DIR": str(tmp)}
    return subprocess.run(
        ["skopeo", *args], capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL
    )


def test_private_pull_through_the_mirror_needs_credentials_for_the_mirror_host(tmp_path, supernode, ended_by_pid):
    htpasswd = write_htpasswd(str(tmp_path / "htpasswd"), {USER: PASSWORD})
    proc, registry = start_registry(str(tmp_path), htpasswd=htpasswd)
    ended_by_pid(proc)
    image = build_image(2, layer_size=512 * 1024)
    push(registry, NAME, "1", image, auth=(USER, PASSWORD))
    # directBelow 0: these 512 KiB layers would otherwise go straight to the registry
    mirror = ended_by_pid(
        Dfdaemon(str(tmp_path), "host1", registry, f"127.0.0.1:{supernode.api_port}", config={"directBelow": 0})
    )
    registry_host, mirror_host = registry.split("//", 1)[1], f"127.0.0.1:{mirror.port}"
    conf = tmp_path / "registries.conf"
    conf.write_text(
        f'[[registry]]\nlocation = "{registry_host}"\ninsecure = true\n'
        f'[[registry.mirror]]\nlocation = "{mirror_host}"\ninsecure = true\n'
    )
    auth = tmp_path / "auth.json"
    login = skopeo(
        "login", "--authfile", str(auth), "--tls-verify=false", "-u", USER, "-p", PASSWORD, registry_host, tmp=tmp_path
    )
    assert login.returncode == 0, login.stderr

    def pull(dest: str):
        return skopeo(
            "--insecure-policy",
            "--registries-conf",
            str(conf),
            "copy",
            "--authfile",
            str(auth),
            f"docker://{registry_host}/{NAME}:1",
            f"oci:{tmp_path / dest}:1",
            tmp=tmp_path,
        )

    # credentials for the registry only: the pull succeeds, but around the mirror
    first = pull("only-registry")
    assert first.returncode == 0, first.stderr
    assert mirror.metric("dragonfly_dfdaemon_dfget_tasks_started_total") == 0

    # the README's step: the same credentials under the mirror's address (dfdaemon relays the login)
    login = skopeo(
        "login", "--authfile", str(auth), "--tls-verify=false", "-u", USER, "-p", PASSWORD, mirror_host, tmp=tmp_path
    )
    assert login.returncode == 0, login.stderr
    assert mirror_host in json.loads(auth.read_text())["auths"]
    second = pull("with-mirror")
    assert second.returncode == 0, second.stderr
    # the config blob and both layers were handed to dfget
    assert mirror.metric("dragonfly_dfdaemon_dfget_tasks_started_total") >= len(image.layer_digests)
    assert "layer handed to dfget (P2P)" in mirror.logs()
