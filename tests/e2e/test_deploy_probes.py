"""The DaemonSet's dfdaemon, run with the manifest's own arguments (only the port and the paths
moved to this machine): the kubelet's probe request succeeds at the probe's host and port, and the
metrics relay, run as the manifest runs it, serves dfdaemon's own metrics (issue 14)."""

import os
import sys

import pytest
import requests

from tests.support.procs import START_DEADLINE, Proc, free_port, wait_until
from tests.unit.deploy.manifests import DEPLOY, KUSTOMIZE, container, flag, of_kind, render

ROOT = DEPLOY.parents[1]


def localised(argv, port: int, tmp_path) -> "list[str]":
    """The manifest's args with this machine's port, work home, config and dfget."""
    moved = {
        "--port": str(port),
        "--workHome": str(tmp_path / "work"),
        "--config": str(ROOT / "conf" / "dfdaemon.yml"),
        "--dfpath": os.path.join(os.path.dirname(sys.executable), "dfget"),
        "--node": "127.0.0.1:9",
    }  # no supernode is needed to answer a probe
    out = []
    for arg in argv:
        name = arg.split("=", 1)[0]
        out.append(f"{name}={moved[name]}" if name in moved else arg)
    return out


@pytest.fixture
def daemonset(tmp_path, ended_by_pid):
    spec = of_kind(render("default"), "DaemonSet", "dfdaemon")["spec"]["template"]["spec"]
    dfdaemon, relay = container(spec, "dfdaemon"), container(spec, "metrics-relay")
    port, relay_port = free_port(), free_port()
    argv = localised(dfdaemon["args"], port, tmp_path)
    assert flag(argv, "--hostIp") == "127.0.0.1"
    proc = ended_by_pid(
        Proc(["dfdaemon", *argv], log_path=str(tmp_path / "dfdaemon.log"), env={"HOME": str(tmp_path / "home")})
    )
    upstream = flag(relay["args"], "--upstream").replace(":65001/", f":{port}/")
    relay_argv = [
        sys.executable,
        str(KUSTOMIZE / "base" / relay["command"][-1].rsplit("/", 1)[1]),
        "--listen=127.0.0.1",
        f"--port={relay_port}",
        f"--upstream={upstream}",
    ]
    relay_proc = ended_by_pid(Proc(relay_argv, log_path=str(tmp_path / "relay.log")))
    return dfdaemon, proc, port, relay_proc, relay_port


def probe_url(probe: dict, port: int) -> str:
    get = probe["httpGet"]
    return f"http://{get['host']}:{port}{get['path']}"


def test_the_probes_succeed_against_the_real_dfdaemon(daemonset):
    c, proc, port, _, _ = daemonset
    for kind in ("readinessProbe", "livenessProbe"):
        url = probe_url(c[kind], port)

        def ok(url=url):
            if not proc.alive():
                raise RuntimeError(proc.output())
            return requests.get(url, timeout=2).status_code == 200

        wait_until(ok, START_DEADLINE, f"dfdaemon to pass its {kind} at {url}")


def test_the_relay_serves_dfdaemons_own_metrics(daemonset):
    _, proc, port, relay, relay_port = daemonset

    def scraped():
        if not proc.alive() or not relay.alive():
            raise RuntimeError(proc.output() + relay.output())
        resp = requests.get(f"http://127.0.0.1:{relay_port}/metrics", timeout=2)
        return resp if resp.status_code == 200 else None

    resp = wait_until(scraped, START_DEADLINE, "the relay to serve dfdaemon's metrics")
    assert "dragonfly_dfdaemon_" in resp.text
    assert requests.get(f"http://127.0.0.1:{relay_port}/v2/", timeout=5).status_code == 404
