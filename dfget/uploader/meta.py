"""`<home>/meta/host.meta`: JSON `{"servicePort": N}`, where this host's upload server listens
(and `connect_host`: the address a local client dials for it)."""

import json
import os
import tempfile

from common.errors import BadInput
from common.protocol.messages import HostMeta


def connect_host(ip: str) -> str:
    """Where a local client reaches a server bound to `ip` (all interfaces -> loopback)."""
    return ip if ip and ip not in ("0.0.0.0", "::") else "127.0.0.1"


def read_port(path: str) -> int:
    """The recorded service port; 0 when the file is missing or unreadable."""
    try:
        with open(path, "rb") as f:
            return HostMeta.decode(json.loads(f.read() or b"{}")).service_port
    except (OSError, ValueError, BadInput):
        return 0


def write_port(path: str, port: int) -> None:
    """Atomically replace host.meta (mode 0755 as v1)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".host.meta.", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(HostMeta(service_port=port).encode(), f, separators=(",", ":"))
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def pid_path(meta_path: str) -> str:
    """`<home>/meta/uploader.pid`: the running upload server's PID, so that operators and tests
    can end it by PID (it runs detached from the dfget that started it)."""
    return os.path.join(os.path.dirname(os.path.abspath(meta_path)), "uploader.pid")


def write_pid(meta_path: str) -> None:
    with open(pid_path(meta_path), "w") as f:
        f.write(str(os.getpid()))


def clear_pid(meta_path: str) -> None:
    """Remove the pid file if it is ours."""
    path = pid_path(meta_path)
    try:
        with open(path) as f:
            if f.read().strip() == str(os.getpid()):
                os.unlink(path)
    except (OSError, ValueError):
        pass
