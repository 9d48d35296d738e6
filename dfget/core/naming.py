"""Identifiers and file names of one dfget run (docs/protocol.md#identifiers, docs/architecture.md#one-download, docs/protocol.md#files-on-disk-shared-across-programs)."""
import posixpath
from urllib.parse import urlsplit

PEER_FILE_SUFFIX = ".service"


def make_sign(pid: int, now: float) -> str:
    """`<pid>-<unix seconds with 3 decimals>`, e.g. `31923-1550042443.708`."""
    return f"{pid}-{now:.3f}"


def make_cid(local_ip: str, sign: str) -> str:
    """`<localIP>-<sign>`."""
    return f"{local_ip}-{sign}"


def task_file_name(output: str, sign: str) -> str:
    """`<basename(output)>-<sign>`."""
    return f"{posixpath.basename(output)}-{sign}"


def service_file_name(task_file: str) -> str:
    return task_file + PEER_FILE_SUFFIX


def default_output_name(url: str) -> str:
    """The last segment of the URL's path ('' when the path has none)."""
    path = urlsplit(url).path
    name = posixpath.basename(path)
    return "" if name in ("", ".", "..") else name


def temp_target_prefix(sign: str) -> str:
    """Prefix of the empty probe/write target created next to the output."""
    return f"dfget-{sign}.tmp-"


def back_source_prefix(sign: str) -> str:
    return f"backsource.{sign}."
