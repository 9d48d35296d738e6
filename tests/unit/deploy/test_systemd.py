"""conf/deploy/systemd/: the units run the programs where `pip install .` (as root) puts them, are
hardened, and `systemd-analyze verify` / `security --offline` accept them (when systemd is here)."""

import configparser
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from tests.unit.deploy.manifests import DEPLOY, ROOT

UNITS = ["supernode.service", "dfdaemon.service"]
INSTALLED_BIN = "/usr/local/bin/"  # docs/operations.md, "Installing"
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "CapabilityBoundingSet": "",
    "RestrictSUIDSGID": "yes",
}
MAX_EXPOSURE = 3.0  # systemd-analyze security: below 3 is "OK"; an unhardened unit scores 9.x
ANALYZE_TIMEOUT = 60


def service(unit: str):
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read(DEPLOY / "systemd" / unit)
    return cp["Service"]


@pytest.mark.parametrize("unit", UNITS)
def test_paths_match_the_documented_install(unit):
    svc = service(unit)
    argv = shlex.split(svc["ExecStart"])
    assert argv[0] == INSTALLED_BIN + unit.split(".")[0]
    for i, arg in enumerate(argv):
        if arg in ("--dfpath",):
            assert argv[i + 1] == INSTALLED_BIN + "dfget"
        if arg in ("--workHome", "--home-dir"):
            assert argv[i + 1].startswith("/var/lib/dragonfly")
    assert INSTALLED_BIN in (ROOT / "docs" / "operations.md").read_text()
    state_dirs = ["/var/lib/" + d for d in svc["StateDirectory"].split()]
    written = [argv[i + 1] for i, a in enumerate(argv) if a in ("--workHome", "--home-dir")]
    assert written and all(w in state_dirs for w in written), "ProtectSystem=strict: only state dirs are writable"


@pytest.mark.parametrize("unit", UNITS)
def test_hardened(unit):
    svc = service(unit)
    for key, value in HARDENING.items():
        assert svc.get(key) == value, key
    assert svc.get("User") and svc["User"] != "root"


def installed_copy(unit: str, tmp_path: pathlib.Path) -> pathlib.Path:
    """The unit with /usr/local/bin/ pointed at this environment's console scripts: verify checks
    that ExecStart exists, and the programs are not installed system-wide here."""
    bindir = os.path.dirname(sys.executable) + "/"
    text = (DEPLOY / "systemd" / unit).read_text().replace(INSTALLED_BIN, bindir)
    path = tmp_path / unit
    path.write_text(text)
    return path


def analyze(*args):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (Debian package `systemd`; .ci/run installs it)")
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, timeout=ANALYZE_TIMEOUT)


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_verify_accepts_it(unit, tmp_path):
    done = analyze("verify", str(installed_copy(unit, tmp_path)))
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_security_rates_it_ok(unit, tmp_path):
    done = analyze("security", "--offline=yes", str(installed_copy(unit, tmp_path)))
    found = re.search(r"Overall exposure level for \S+: ([\d.]+)", done.stdout)
    if not found:
        pytest.skip(f"this systemd-analyze has no offline security check: {done.stderr.strip()[:200]}")
    assert float(found.group(1)) <= MAX_EXPOSURE, done.stdout[-2000:]
