"""Every line dfget prints on stdout, worded exactly as v1 (docs/architecture.md#one-download,
docs/operations.md#exit-codes).

Tools grep these lines; change none of them.
"""

from datetime import datetime

START_BY_DRAGONFLY = "start download by dragonfly..."


def start_line(started: datetime, url: str) -> str:
    return f"--{started.strftime('%Y-%m-%d %H:%M:%S')}--  {url}"


def version_line(version: str) -> str:
    return f"dfget version:{version}"


def workspace_line(home: str) -> str:
    return f"workspace:{home}"


def sign_line(sign: str) -> str:
    return f"sign:{sign}"


def connected_line(local_ip: str, node: str) -> str:
    return f"client:{local_ip} connected to node:{node}"


def migrated_line(node: str) -> str:
    return f"migrated to node:{node}"


def fallback_line(error: str) -> str:
    return f"failed to download by dragonfly: {error}, and start try to download from source"


def p2p_off_line(why: str) -> str:
    """Ours, not v1's (on stderr): P2P is off for this download — no upload server on this host, or
    no supernode took the download; the download still goes on."""
    return f"warning: P2P is off: {why}"


def back_source_line(name: str) -> str:
    return f"start download {name} from the source station"


def not_back_source_message(reason: int) -> str:
    return f"download fail and not back source: {reason}"


def error_text(code: int, msg: str) -> str:
    """v1's DfError rendering: `{"Code":1104,"Msg":"..."}` (Go %s, no escaping)."""
    return f'{{"Code":{code},"Msg":"{msg}"}}'


def success_line(cost: float, length: int, reason: int) -> str:
    return f"download SUCCESS cost:{cost:.3f}s length:{length} reason:{reason}"


def fail_line(code: int, cost: float, length: int, reason: int, msg: str) -> str:
    return f"download FAIL({code}) cost:{cost:.3f}s length:{length} reason:{reason} error:{error_text(code, msg)}"


def version_text(
    program: str, version: str, revision: str, build_date: str, runtime: str, os_name: str, arch: str
) -> str:
    """`dfget version` output (v1's template, leading blank line included)."""
    return (
        f"\n{program} version  {version}\n"
        f"  Git commit:     {revision}\n"
        f"  Build date:     {build_date}\n"
        f"  Go version:     {runtime}\n"
        f"  OS/Arch:        {os_name}/{arch}\n"
    )
