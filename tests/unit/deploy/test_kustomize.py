"""conf/deploy/kubernetes/: every overlay renders offline with kubectl, validates against the
Kubernetes schemas, and the DaemonSet's probes reach dfdaemon where it really listens (issue 14)."""

import copy
import importlib.metadata
import tomllib

import pytest
import yaml

from tests.unit.deploy.manifests import (
    DEPLOY,
    KUSTOMIZE,
    OVERLAYS,
    container,
    dfdaemon_listen_address,
    documented_image,
    flag,
    image_file,
    of_kind,
    render,
)

K8S_VERSION = "1.32.0"  # Debian's kubectl
NAMESPACED = {"ConfigMap", "Deployment", "DaemonSet", "Service"}


def validator():
    return pytest.importorskip(
        "kubernetes_validate", reason="pip package kubernetes-validate is not installed (.ci/run installs it)"
    )


def test_there_are_overlays():
    assert {"default", "node-runtime-config"} <= set(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_against_the_kubernetes_schemas(overlay):
    kv = validator()
    docs = render(overlay)
    assert {d["kind"] for d in docs} >= {"Namespace", "Deployment", "Service", "DaemonSet", "ConfigMap"}
    for doc in docs:
        kv.validate(doc, K8S_VERSION, strict=True)
        if doc["kind"] in NAMESPACED:
            assert doc["metadata"].get("namespace") == "dragonfly", doc["metadata"]


def test_the_validator_rejects_a_misspelt_field():
    kv = validator()
    ds = copy.deepcopy(of_kind(render("default"), "DaemonSet", "dfdaemon"))
    ds["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = ds["spec"]["template"]["spec"]["containers"][
        0
    ].pop("readinessProbe")
    with pytest.raises(kv.ValidationError):
        kv.validate(ds, K8S_VERSION, strict=True)


def probe_targets(c: dict):
    for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
        if kind in c:
            yield kind, c[kind]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_dfdaemon_probes_target_where_it_listens(overlay):
    """With hostNetwork the kubelet probes the node IP unless the probe names a host: the probe's
    host and port must be dfdaemon's bind address, derived from the container's flags, env and
    the config file the image installs."""
    ds = of_kind(render(overlay), "DaemonSet", "dfdaemon")
    spec = ds["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True
    c = container(spec, "dfdaemon")
    env = {e["name"]: e.get("value", "") for e in c.get("env", [])}
    config = image_file("client.Dockerfile", flag(c["args"], "--config"))
    host, port = dfdaemon_listen_address(c["args"], env, config)
    probes = dict(probe_targets(c))
    assert {"readinessProbe", "livenessProbe"} <= set(probes)
    for kind, probe in probes.items():
        assert "exec" not in probe, f"{kind}: probe over HTTP or TCP, where the address can be checked"
        target = probe.get("httpGet") or probe.get("tcpSocket")
        # no host: the kubelet uses the pod IP, i.e. the node IP with hostNetwork
        probed_host = target.get("host", "<node IP>")
        assert probed_host == host or host in ("0.0.0.0", "::"), f"{kind} probes {probed_host}, dfdaemon binds {host}"
        assert target["port"] == port, f"{kind} probes port {target['port']}, dfdaemon binds {port}"
    assert {"name": "mirror", "containerPort": port, "hostPort": port} in c["ports"]


def test_dfdaemon_metrics_relay_and_scrape_jobs_agree():
    docs = render("default")
    spec = of_kind(docs, "DaemonSet", "dfdaemon")["spec"]["template"]["spec"]
    dfdaemon, relay = container(spec, "dfdaemon"), container(spec, "metrics-relay")
    host, port = dfdaemon_listen_address(
        dfdaemon["args"], {}, image_file("client.Dockerfile", "/etc/dragonfly/dfdaemon.yml")
    )
    assert flag(relay["args"], "--upstream") == f"http://{host}:{port}/metrics"
    relay_port = int(flag(relay["args"], "--port"))
    assert {"name": "metrics", "containerPort": relay_port, "hostPort": relay_port} in relay["ports"]
    annotations = of_kind(docs, "DaemonSet", "dfdaemon")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(relay_port)
    scrape = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("prometheus-dragonfly")]
    jobs = {j["job_name"]: j for j in yaml.safe_load(scrape[0]["data"]["dragonfly.yml"])["scrape_configs"]}
    port_names = {"dragonfly-supernode": "api", "dragonfly-dfdaemon": "metrics"}
    supernode = container(of_kind(docs, "Deployment", "supernode")["spec"]["template"]["spec"], "supernode")
    named = {"api": supernode["ports"], "metrics": relay["ports"]}
    for job, port_name in port_names.items():
        keep = [
            r["regex"]
            for r in jobs[job]["relabel_configs"]
            if r["source_labels"] == ["__meta_kubernetes_pod_container_port_name"]
        ]
        assert keep == [port_name] and any(p["name"] == port_name for p in named[port_name])


def test_daemonset_has_resources_and_tolerates_every_taint():
    spec = of_kind(render("default"), "DaemonSet", "dfdaemon")["spec"]["template"]["spec"]
    assert {"operator": "Exists"} in spec["tolerations"]
    for c in spec["containers"]:
        assert c["resources"]["requests"] and c["resources"]["limits"]["memory"], c["name"]
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True


def test_images_are_those_the_dockerfiles_build():
    version = importlib.metadata.version("dragonfly-py")
    built = {documented_image("supernode.Dockerfile"), documented_image("client.Dockerfile")}
    assert built == {f"dragonfly-py/supernode:{version}", f"dragonfly-py/client:{version}"}
    for overlay in OVERLAYS:
        for doc in render(overlay):
            pod = doc.get("spec", {}).get("template", {}).get("spec", {})
            for c in pod.get("containers", []) + pod.get("initContainers", []):
                assert c["image"] in built, f"{overlay}: {c['name']} runs {c['image']}"


def test_node_runtime_config_writes_what_mirrors_documents():
    """The opt-in component ships copies of conf/deploy/mirrors/ (kustomize reads no file outside
    its directory): they must not drift apart."""
    component = KUSTOMIZE / "components" / "node-runtime-config"
    assert (component / "hosts.toml").read_text() == (DEPLOY / "mirrors" / "hosts.toml").read_text()
    assert (component / "dragonfly.conf").read_text() == (DEPLOY / "mirrors" / "registries.conf").read_text()
    tomllib.loads((component / "hosts.toml").read_text())
    docs = render("node-runtime-config")
    spec = of_kind(docs, "DaemonSet", "dfdaemon")["spec"]["template"]["spec"]
    [init] = spec["initContainers"]
    script = init["args"][0]
    assert "/host/containerd/certs.d/docker.io/hosts.toml" in script
    assert "/host/containers/registries.conf.d/dragonfly.conf" in script
    host_paths = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
    mounts = {m["mountPath"]: host_paths[m["name"]] for m in init["volumeMounts"] if m["name"] in host_paths}
    assert mounts == {"/host/containerd": "/etc/containerd", "/host/containers": "/etc/containers"}
    assert "initContainers" not in of_kind(render("default"), "DaemonSet", "dfdaemon")["spec"]["template"]["spec"]
