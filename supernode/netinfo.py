"""Which IPv4 address the supernode advertises when none is configured (v1 bugs #645, #1428:
a loopback-only host must still start)."""

import fcntl
import ipaddress
import socket
import struct

_SIOCGIFADDR = 0x8915


def interface_ipv4_addresses() -> "list[str]":
    """IPv4 addresses of the local interfaces, in interface order; sends no packets."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, struct.pack("256s", name[:15].encode()))
            except OSError:
                continue
            found.append(socket.inet_ntoa(packed[20:24]))
    return found


def default_advertise_ip(addresses: "list[str] | None" = None) -> "tuple[str, str]":
    """(ip, why): the first non-loopback IPv4, else 127.0.0.1."""
    for ip in interface_ipv4_addresses() if addresses is None else addresses:
        if not ipaddress.IPv4Address(ip).is_loopback:
            return ip, "first non-loopback IPv4 address"
    return "127.0.0.1", "no non-loopback IPv4 address found; only local clients can reach this supernode"
