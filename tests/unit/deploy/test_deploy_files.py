"""conf/deploy/: every file parses, names only real CLI flags and the real ports, and the Grafana
dashboard queries only metrics the supernode and dfdaemon export."""

import configparser
import json
import pathlib
import re
import shlex
import tomllib

import pytest
import yaml

from tests.unit.deploy.manifests import DEPLOY, ROOT, dockerfile_stages, exec_form


def cli_flags(module: str) -> "set[str]":
    mod = pytest.importorskip(module, reason=f"{module} is not importable yet")
    return {o for p in mod.main.params for o in p.opts + p.secondary_opts}


def flags_of(argv) -> "list[str]":
    return [a.split("=", 1)[0] for a in argv if a.startswith("-")]


def check_flags(argv, module):
    known = cli_flags(module)
    unknown = [f for f in flags_of(argv) if f not in known]
    assert not unknown, f"{module} has no options {unknown}"


def program_of(argv) -> str:
    return {"supernode": "supernode.cli", "dfdaemon": "dfdaemon.cli", "dfget": "dfget.cli"}[pathlib.Path(argv[0]).name]


def dockerfile(name):
    """The final stage's command line, exposed ports and the repository files it COPYs."""
    final = dockerfile_stages(name)[-1]
    [entry], [cmd] = final.instructions("ENTRYPOINT"), final.instructions("CMD")
    exposed = {int(p) for line in final.instructions("EXPOSE") for p in line.split()}
    copies = [args.split()[0] for args in final.instructions("COPY") if not args.startswith("--from")]
    return exec_form(entry) + exec_form(cmd), exposed, copies


@pytest.mark.parametrize("name, ports", [("supernode.Dockerfile", {8001, 8002}), ("client.Dockerfile", {65001})])
def test_dockerfiles(name, ports):
    argv, exposed, copies = dockerfile(name)
    check_flags(argv[1:], program_of(argv))
    assert exposed == ports
    assert copies
    for src in copies:
        assert (ROOT / src).exists(), src
    if "--port" in argv:
        assert int(argv[argv.index("--port") + 1]) in ports


def k8s(name):
    return [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "base" / name).read_text()) if d]


def test_supernode_deployment_and_service():
    docs = {d["kind"]: d for d in k8s("supernode.yaml")}
    dep, svc = docs["Deployment"], docs["Service"]
    assert dep["spec"]["replicas"] == 1
    [container] = dep["spec"]["template"]["spec"]["containers"]
    check_flags(container["args"], "supernode.cli")
    assert {p["containerPort"] for p in container["ports"]} == {8001, 8002}
    assert "--port=8002" in container["args"] and "--download-port=8001" in container["args"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/_ping", "port": 8002}
    assert {p["port"] for p in svc["spec"]["ports"]} == {8001, 8002}
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]


def test_dfdaemon_daemonset():
    [ds] = [d for d in k8s("dfdaemon.yaml") if d["kind"] == "DaemonSet"]
    spec = ds["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True
    [container] = [c for c in spec["containers"] if c["name"] == "dfdaemon"]
    check_flags(container["args"], "dfdaemon.cli")
    assert "--port=65001" in container["args"]
    node = [a for a in container["args"] if a.startswith("--node=")][0]
    assert node.endswith(":8002") and node.split("=")[1].startswith("supernode.dragonfly")
    assert container["ports"][0]["containerPort"] == 65001
    relay = [c for c in spec["containers"] if c["name"] == "metrics-relay"]
    assert relay and relay[0]["command"][-1].endswith("/metrics_relay.py")


@pytest.mark.parametrize("unit", ["supernode.service", "dfdaemon.service"])
def test_systemd_units(unit):
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.read(DEPLOY / "systemd" / unit)
    assert {"Unit", "Service", "Install"} <= set(cp.sections())
    argv = shlex.split(cp["Service"]["ExecStart"])
    check_flags(argv[1:], program_of(argv))
    assert cp["Service"]["Restart"] == "on-failure"


def test_mirror_configs_point_at_dfdaemon():
    daemon = json.loads((DEPLOY / "mirrors" / "daemon.json").read_text())
    assert daemon["registry-mirrors"] == ["http://127.0.0.1:65001"]
    hosts = tomllib.loads((DEPLOY / "mirrors" / "hosts.toml").read_text())
    assert hosts["server"] == "https://registry-1.docker.io"
    assert set(hosts["host"]["http://127.0.0.1:65001"]["capabilities"]) == {"pull", "resolve"}
    crio = tomllib.loads((DEPLOY / "mirrors" / "registries.conf").read_text())
    assert crio["registry"][0]["mirror"][0]["location"] == "127.0.0.1:65001"


def exported_metric_names() -> "set[str]":
    from dfdaemon.metrics import Metrics as DfdaemonMetrics
    from supernode.metrics import SupernodeMetrics

    names = set()
    families = [*SupernodeMetrics().registry.collect(), *DfdaemonMetrics().registry.collect()]
    for family in families:
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(family.type, [""])
        names |= {family.name + s for s in suffixes}
    return names


def test_grafana_dashboard_uses_real_metrics():
    dash = json.loads((DEPLOY / "grafana" / "dragonfly-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    used = {n for e in exprs for n in re.findall(r"\bdragonfly_[a-z_]+", e)}
    known = exported_metric_names()
    assert used and not used - known, f"unknown metrics: {sorted(used - known)}"
    for must in (
        "dragonfly_supernode_pieces_downloaded_from_peers_size_bytes_total",
        "dragonfly_supernode_cdn_download_size_bytes_total",
        "dragonfly_dfget_back_source_total",
        "dragonfly_dfdaemon_fallbacks_total",
        "dragonfly_dfdaemon_layer_bytes_served_total",
    ):
        assert must in used
    assert len({p["id"] for p in dash["panels"]}) == len(dash["panels"])
