"""Version strings reported by every program (`version` subcommands, /version, /check)."""

import platform
import sys

VERSION = "1.0.6"  # the v1 protocol release we are compatible with
PACKAGE_VERSION = "0.1.0"  # dragonfly-py's own release
REVISION = "dragonfly-py-" + PACKAGE_VERSION
BUILD_DATE = "2026-11-23"


def runtime_version() -> str:
    return f"python{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"


def arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def version_text(program: str) -> str:
    """What `<program> version` prints, in v1's layout."""
    return (
        f"{program} version  {VERSION}\n  Git commit: {REVISION}\n  Build date: {BUILD_DATE}\n"
        f"  Go version: {runtime_version()}\n  OS/Arch: linux/{arch()}"
    )
