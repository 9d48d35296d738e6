"""Where the real Dragonfly v1.0.6 Go programs are (`$DRAGONFLY_V1GO`, else `<repo>/../shared/v1go`,
see its README), and unpacking them: one definition for the e2e tests and the benchmarks."""

import os
import shutil
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
V1GO_DIR = os.environ.get("DRAGONFLY_V1GO") or os.path.join(os.path.dirname(REPO), "shared", "v1go")


class V1GoUnavailable(RuntimeError):
    """The v1 Go programs are not on this machine (tests skip with this reason)."""


def unpack(target: str) -> str:
    """Unpack (and check against SHA256SUMS) into `target`; returns `target`, which then holds
    `dfget`, `supernode`, `dfdaemon` and `itest.test`."""
    if not (os.path.isfile(os.path.join(V1GO_DIR, "unpack.sh")) and shutil.which("xz")):
        raise V1GoUnavailable(f"the v1 Go binaries are not here ({V1GO_DIR}; set DRAGONFLY_V1GO)")
    done = subprocess.run(
        ["sh", os.path.join(V1GO_DIR, "unpack.sh"), target], capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise V1GoUnavailable(f"cannot unpack the v1 Go binaries: {done.stderr[-300:]}")
    return target
