"""Real components for the dfdaemon scenarios: docker-registry, dfdaemon, dockerd (or skopeo).

Every process is a tests.support.procs.Proc (own session, ended by PID); dfget's detached upload
servers are ended by the PID in their home's meta/uploader.pid. dockerd gets HTTP(S)_PROXY set to
a dead loopback port, so its fallback to the real Docker Hub (when a mirror fails) dies locally:
no packet leaves the machine.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import requests

from tests.support.procs import Proc, free_port, wait_until

DEAD_PROXY = "http://127.0.0.1:9"


def end_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM a process that is not our child (dfget's upload server), SIGKILL after the deadline."""
    def alive():
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not alive():
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while alive() and time.monotonic() < deadline:
            time.sleep(0.05)


def start_registry(tmp) -> "tuple[Proc, str]":
    port = free_port()
    cfg = os.path.join(tmp, "registry.yml")
    with open(cfg, "w") as f:
        f.write(f"version: 0.1\nlog: {{level: info}}\nstorage:\n  filesystem: {{rootdirectory: {tmp}/registry-data}}\n"
                f"  delete: {{enabled: true}}\nhttp:\n  addr: 127.0.0.1:{port}\n")
    proc = Proc(["docker-registry", "serve", cfg], log_path=os.path.join(tmp, "registry.log"))
    url = f"http://127.0.0.1:{port}"

    def ready():
        if not proc.alive():
            raise RuntimeError(proc.output())
        return requests.get(url + "/v2/", timeout=1).status_code == 200
    wait_until(ready, 15, "docker-registry to answer /v2/")
    return proc, url


class Dfdaemon:
    def __init__(self, tmp, name: str, registry: str, node: str):
        self.home = os.path.join(tmp, name)
        os.makedirs(self.home, exist_ok=True)
        empty = os.path.join(self.home, "dfdaemon.yml")
        open(empty, "w").close()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = Proc(["dfdaemon", "--config", empty, "--port", str(self.port), "--hostIp", "127.0.0.1",
                          "--registry", registry, "--workHome", self.home, "--node", node,
                          "--dfpath", shutil.which("dfget"), "--verbose"],
                         log_path=os.path.join(tmp, f"{name}.out"))

        def ready():
            if not self.proc.alive():
                raise RuntimeError(self.proc.output())
            return requests.get(self.url + "/debug/version", timeout=1).ok
        wait_until(ready, 20, f"{name} to answer /debug/version")

    def metric(self, name: str) -> float:
        total = 0.0
        for line in requests.get(self.url + "/metrics", timeout=5).text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def logs(self) -> str:
        path = os.path.join(self.home, "logs", "dfdaemon.log")
        return open(path).read() if os.path.exists(path) else ""

    def stop(self) -> None:
        self.proc.stop()
        pid_file = os.path.join(self.home, "meta", "uploader.pid")
        try:
            pid = int(open(pid_file).read().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if pid:
            end_pid(pid)


class Docker:
    """A real dockerd (vfs, no iptables, no bridge, its own roots) using one registry mirror."""

    def __init__(self, tmp, name: str, mirror_port: int):
        root = os.path.join(tmp, name)
        os.makedirs(root, exist_ok=True)
        # unix socket paths must stay under 108 bytes: containerd's live in exec-root
        self.root = root
        self.short = tempfile.mkdtemp(prefix="dfd-", dir="/tmp")
        self.sock = os.path.join(self.short, "docker.sock")
        cfg = os.path.join(root, "daemon.json")
        with open(cfg, "w") as f:
            json.dump({"storage-driver": "vfs", "iptables": False, "ip6tables": False, "bridge": "none",
                       "data-root": os.path.join(root, "data"), "exec-root": os.path.join(self.short, "x"),
                       "pidfile": os.path.join(root, "docker.pid"), "hosts": [f"unix://{self.sock}"],
                       "registry-mirrors": [f"http://127.0.0.1:{mirror_port}"]}, f)
        env = {"HTTP_PROXY": DEAD_PROXY, "HTTPS_PROXY": DEAD_PROXY, "http_proxy": DEAD_PROXY,
               "https_proxy": DEAD_PROXY, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        self.proc = Proc(["dockerd", "--config-file", cfg], log_path=os.path.join(root, "dockerd.log"), env=env)
        wait_until(lambda: not self.proc.alive() or self.cli("version", timeout=10).returncode == 0, 30,
                   f"{name} dockerd to answer")
        if not self.proc.alive():
            log = self.proc.output()
            self.stop()
            raise RuntimeError(f"dockerd exited: {log[-1500:]}")

    def cli(self, *args, timeout=90) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "-H", f"unix://{self.sock}", *args], capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, "DOCKER_CONFIG": self.short})

    def pull(self, ref: str) -> "list[str]":
        res = self.cli("pull", ref)
        assert res.returncode == 0, f"docker pull {ref} failed: {res.stdout}{res.stderr}"
        out = self.cli("image", "inspect", ref, "--format", "{{json .RootFS.Layers}}")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def stop(self) -> None:
        self.proc.stop(timeout=20)
        # dockerd bind-mounts its data-root on itself; a stopped daemon may leave that mount behind
        with open("/proc/mounts") as f:
            mounts = [line.split()[1] for line in f]
        for point in reversed(mounts):
            if point.startswith((self.root + "/", self.short + "/")):
                subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)
        shutil.rmtree(self.short, ignore_errors=True)


def skopeo_pull(tmp, mirror_port: int, ref: str) -> "list[str]":
    """Fallback puller: skopeo copies through the mirror (as a plain-HTTP registry) into a dir."""
    out = os.path.join(tmp, "skopeo-" + ref.replace("/", "_").replace(":", "_") + f"-{mirror_port}")
    res = subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://127.0.0.1:{mirror_port}/{ref}",
                          f"dir:{out}"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"skopeo copy failed: {res.stdout}{res.stderr}"
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    return [layer["digest"] for layer in manifest["layers"]]
