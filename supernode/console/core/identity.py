"""One name per peer in the console (docs/operations.md#console).

The supernode makes a new peer record (`<hostName>-<ip>-<ns>`) for every registration, and a
client download is shown by a label that hides its cid (supernode.core.identity.console_label).
An operator thinks in hosts: the console groups everything by the host's IP address (the address
other peers reach it at) and names it `ip:uploadPort`, with the host name and the peer ids as
detail. The supernode itself is one node, SUPERNODE.
"""

SUPERNODE = "supernode"


def host_key(ip: str) -> str:
    """The key that deduplicates peers: one host, one IP address."""
    return ip or "?"


def host_label(ip: str, port: int) -> str:
    """How a host is shown: `ip:port` of its upload server, or the bare IP when it uploads nothing."""
    return f"{ip or '?'}:{port}" if port and port > 0 else (ip or "?")
