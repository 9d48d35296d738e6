"""Identifiers of one dfget run (docs/protocol.md#identifiers); its file names are in common/dfget_files.py."""

import posixpath
from urllib.parse import urlsplit


def make_cid(local_ip: str, sign: str) -> str:
    """`<localIP>-<sign>`."""
    return f"{local_ip}-{sign}"


def default_output_name(url: str) -> str:
    """The last segment of the URL's path ('' when the path has none)."""
    path = urlsplit(url).path
    name = posixpath.basename(path)
    return "" if name in ("", ".", "..") else name
