"""Real components for the dfdaemon scenarios: docker-registry, dfdaemon, dockerd (or skopeo).

Every process is a tests.support.procs.Proc (own session, ended by PID); dfget's detached upload
servers are ended by the PID in their home's meta/uploader.pid. dockerd gets HTTP(S)_PROXY set to
a dead loopback port, so its fallback to the real Docker Hub (when a mirror fails) dies locally:
no packet leaves the machine.
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import requests
import yaml

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


def start_registry(
    tmp,
    *,
    htpasswd: "str | None" = None,
    tls: "tuple[str, str] | None" = None,
    ca: "str | None" = None,
    host: str = "127.0.0.1",
    name: str = "registry",
) -> "tuple[Proc, str]":
    """A docker-registry on a free loopback port. `htpasswd`: a file of bcrypt entries (basic auth);
    `tls`: (certificate, key) to serve HTTPS, `host` being a name in its SAN that resolves to
    127.0.0.1 and `ca` the file that verifies it. Answers with its base URL."""
    port = free_port()
    cfg = os.path.join(tmp, f"{name}.yml")
    text = (
        f"version: 0.1\nlog: {{level: info}}\nstorage:\n  filesystem: {{rootdirectory: {tmp}/{name}-data}}\n"
        f"  delete: {{enabled: true}}\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    if tls:
        text += f"  tls: {{certificate: {tls[0]}, key: {tls[1]}}}\n"
    if htpasswd:
        text += f"auth:\n  htpasswd: {{realm: dragonfly-test, path: {htpasswd}}}\n"
    with open(cfg, "w") as f:
        f.write(text)
    proc = Proc(["docker-registry", "serve", cfg], log_path=os.path.join(tmp, f"{name}.log"))
    url = f"{'https' if tls else 'http'}://{host}:{port}"

    def ready():
        if not proc.alive():
            raise RuntimeError(proc.output())
        # 401 is the answer of a registry with auth to an anonymous ping: it is up
        return requests.get(url + "/v2/", timeout=1, verify=ca or True).status_code in (200, 401)

    wait_until(ready, 15, f"{name} to answer /v2/")
    return proc, url


def write_htpasswd(path: str, users: "dict[str, str]") -> str:
    """An htpasswd file of bcrypt ($2b$) entries, made with the C library's crypt(3) through
    Python's `crypt` module (glibc/libxcrypt supports bcrypt on Debian 12; no package needed)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    if crypt.METHOD_BLOWFISH not in crypt.methods:
        raise RuntimeError("this libc's crypt(3) has no bcrypt: install apache2-utils and use htpasswd -B")
    with open(path, "w") as f:
        for user, password in users.items():
            f.write(f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))}\n")
    return path


def make_ca(directory: str, name: str = "test-ca") -> "tuple[str, str]":
    """A test CA: (certificate file, key file)."""
    import datetime

    from dfdaemon.tls import generate_ca

    key_pem, cert_pem = generate_ca(name, datetime.timedelta(days=1))
    cert, key = os.path.join(directory, f"{name}.crt"), os.path.join(directory, f"{name}.key")
    with open(cert, "wb") as f:
        f.write(cert_pem)
    with open(key, "wb") as f:
        f.write(key_pem)
    return cert, key


def make_server_cert(
    directory: str, ca: "tuple[str, str]", names: "list[str]", stem: str = "server"
) -> "tuple[str, str]":
    """A server certificate signed by `ca` whose SAN lists `names` (DNS names and IP addresses)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_cert = x509.load_pem_x509_certificate(pathlib.Path(ca[0]).read_bytes())
    ca_key = serialization.load_pem_private_key(pathlib.Path(ca[1]).read_bytes(), password=None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sans = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = os.path.join(directory, f"{stem}.crt"), os.path.join(directory, f"{stem}.key")
    with open(cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_file, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            )
        )
    return cert_file, key_file


class Dfdaemon:
    default_dfpath: "str | None" = None  # the `dfdaemon_mode` fixture sets it for a whole test

    def __init__(
        self, tmp, name: str, registry: str, node: str, config: "dict | None" = None, dfpath: "str | None" = None
    ):
        """`config`: the dfdaemon.yml contents (hijack_https, registry_mirror.certs, ...); `dfpath`:
        an external dfget to run per blob (`--dfpath`), else `default_dfpath`, else none: in-process."""
        dfpath = dfpath or Dfdaemon.default_dfpath
        self.home = os.path.join(tmp, name)
        os.makedirs(self.home, exist_ok=True)
        empty = os.path.join(self.home, "dfdaemon.yml")
        with open(empty, "w") as f:
            if config:
                yaml.safe_dump(config, f)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = Proc(
            [
                "dfdaemon",
                "--config",
                empty,
                "--port",
                str(self.port),
                "--hostIp",
                "127.0.0.1",
                "--registry",
                registry,
                "--workHome",
                self.home,
                "--node",
                node,
                "--verbose",
                *(["--dfpath", dfpath] if dfpath else []),
            ],
            log_path=os.path.join(tmp, f"{name}.out"),
        )

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
        return pathlib.Path(path).read_text() if os.path.exists(path) else ""

    def stop(self) -> None:
        self.proc.stop()
        pid_file = os.path.join(self.home, "meta", "uploader.pid")
        try:
            pid = int(pathlib.Path(pid_file).read_text().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if pid:
            end_pid(pid)


class Docker:
    """A real dockerd (vfs, no iptables, no bridge, its own roots) using one registry mirror."""

    def __init__(self, tmp, name: str, mirror_port: int, auth: "tuple[str, str] | None" = None):
        """`auth`: (user, password) the CLI sends with every pull, as `docker login` would have
        stored them for Docker Hub (mirrors serve Hub names, so Hub's entry is the one used)."""
        root = os.path.join(tmp, name)
        os.makedirs(root, exist_ok=True)
        # unix socket paths must stay under 108 bytes: containerd's live in exec-root
        self.root = root
        self.short = tempfile.mkdtemp(prefix="dfd-", dir="/tmp")
        self.sock = os.path.join(self.short, "docker.sock")
        if auth:
            import base64

            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            with open(os.path.join(self.short, "config.json"), "w") as f:
                json.dump({"auths": {"https://index.docker.io/v1/": {"auth": token}}}, f)
        cfg = os.path.join(root, "daemon.json")
        with open(cfg, "w") as f:
            json.dump(
                {
                    "storage-driver": "vfs",
                    "iptables": False,
                    "ip6tables": False,
                    "bridge": "none",
                    "data-root": os.path.join(root, "data"),
                    "exec-root": os.path.join(self.short, "x"),
                    "pidfile": os.path.join(root, "docker.pid"),
                    "hosts": [f"unix://{self.sock}"],
                    "registry-mirrors": [f"http://127.0.0.1:{mirror_port}"],
                },
                f,
            )
        env = {
            "HTTP_PROXY": DEAD_PROXY,
            "HTTPS_PROXY": DEAD_PROXY,
            "http_proxy": DEAD_PROXY,
            "https_proxy": DEAD_PROXY,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        self.proc = Proc(["dockerd", "--config-file", cfg], log_path=os.path.join(root, "dockerd.log"), env=env)
        wait_until(
            lambda: not self.proc.alive() or self.cli("version", timeout=10).returncode == 0,
            30,
            f"{name} dockerd to answer",
        )
        if not self.proc.alive():
            log = self.proc.output()
            self.stop()
            raise RuntimeError(f"dockerd exited: {log[-1500:]}")

    def cli(self, *args, timeout=90) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["docker", "-H", f"unix://{self.sock}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "DOCKER_CONFIG": self.short},
        )

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
    res = subprocess.run(
        ["skopeo", "copy", "--src-tls-verify=false", f"docker://127.0.0.1:{mirror_port}/{ref}", f"dir:{out}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, f"skopeo copy failed: {res.stdout}{res.stderr}"
    manifest = json.loads(pathlib.Path(out, "manifest.json").read_text())
    return [layer["digest"] for layer in manifest["layers"]]
