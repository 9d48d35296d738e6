"""Reading conf/deploy/ for the deployment tests: the Kustomize tree rendered by kubectl, the
Dockerfiles' stages, and where dfdaemon listens according to a container's flags and config."""

import json
import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "conf" / "deploy"
KUSTOMIZE = DEPLOY / "kubernetes"
OVERLAYS = sorted(p.name for p in (KUSTOMIZE / "overlays").iterdir() if (p / "kustomization.yaml").exists())
RENDER_TIMEOUT = 60


def kustomize_major() -> int:
    done = subprocess.run(["kubectl", "version", "--client"], capture_output=True, text=True, timeout=RENDER_TIMEOUT)
    found = re.search(r"Kustomize Version: v(\d+)", done.stdout)
    return int(found.group(1)) if found else 0


def render(overlay: str) -> "list[dict]":
    """`kubectl kustomize` of one overlay, offline; skips when no kubectl with kustomize >= v4
    (components) is installed."""
    if not shutil.which("kubectl"):
        pytest.skip(
            "kubectl is not installed (package `kubectl` from pkgs.k8s.io; .ci/run installs it "
            "when an apt source has it; Debian 12 has none)"
        )
    if kustomize_major() < 4:
        pytest.skip(
            "this kubectl bundles kustomize < v4, which cannot render components "
            "(Debian 12's kubernetes-client 1.20 has v2.0.3)"
        )
    done = subprocess.run(
        ["kubectl", "kustomize", str(KUSTOMIZE / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=RENDER_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    assert not done.stderr.strip(), f"kustomize warns (deprecated fields?): {done.stderr}"
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def of_kind(docs, kind: str, name: str) -> dict:
    [doc] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def container(pod_spec: dict, name: str) -> dict:
    [c] = [c for c in pod_spec["containers"] if c["name"] == name]
    return c


class Stage:
    def __init__(self, base: str, name: str):
        self.base, self.name, self.lines = base, name, []

    def instructions(self, keyword: str) -> "list[str]":
        return [line[len(keyword) + 1 :].strip() for line in self.lines if line.startswith(keyword + " ")]


def dockerfile_stages(name: str) -> "list[Stage]":
    """The stages of conf/deploy/docker/<name>, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "docker" / name).read_text())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            parts = line.split()
            stages.append(Stage(parts[1], parts[3] if len(parts) > 3 and parts[2].upper() == "AS" else ""))
        stages[-1].lines.append(line)
    return stages


def documented_image(name: str) -> str:
    """The `docker build … -t IMAGE:TAG` a Dockerfile's header documents."""
    return re.search(r"docker build .* -t (\S+) \.", (DEPLOY / "docker" / name).read_text()).group(1)


def exec_form(instruction: str) -> "list[str]":
    return json.loads(instruction)


def flag(argv, name: str):
    """The value of `--name=V` or `--name V` in argv (the last one wins, as with click), else None."""
    value = None
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def dfdaemon_listen_address(argv, env: dict, config_file: pathlib.Path) -> "tuple[str, int]":
    """Where dfdaemon binds, by its precedence: flags, then DFDAEMON_* environment, then the
    config file, then the defaults (docs/operations.md)."""
    cfg = yaml.safe_load(config_file.read_text()) or {}
    host = flag(argv, "--hostIp") or env.get("DFDAEMON_HOSTIP") or cfg.get("hostIp") or "127.0.0.1"
    port = flag(argv, "--port") or env.get("DFDAEMON_PORT") or cfg.get("port") or 65001
    return host, int(port)


def image_file(dockerfile: str, path_in_image: str) -> pathlib.Path:
    """The repository file a Dockerfile COPYs to `path_in_image`."""
    for stage in dockerfile_stages(dockerfile):
        for args in stage.instructions("COPY"):
            parts = args.split()
            if not parts[0].startswith("--") and parts[-1] == path_in_image:
                return ROOT / parts[0]
    raise AssertionError(f"{dockerfile} puts nothing at {path_in_image}")
