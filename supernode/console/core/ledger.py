"""What the console remembers beyond the core's state: per-host history and the throughput series.

The core forgets a peer soon after its downloads end (peer GC), but an operator wants to see
which hosts served and fetched how much over time. So every delivered piece (the core's
Delivered effect), every back-to-source download a dfget reports and every byte the CDN fetched
from an origin is also added here. Everything is bounded: at most MAX_HOSTS hosts (the least
recently seen are dropped), the series keeps a fixed window, and distinct tasks are counted
against the last RECENT_TASKS task ids of each host (a host alternating between more tasks than
that counts some twice).
"""

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

from supernode.console.core.identity import host_key
from supernode.console.core.series import Series

MAX_HOSTS = 1024
RECENT_TASKS = 64
MAX_REPORTED_BYTES = 1 << 40  # an unauthenticated /task/metrics report cannot claim more


class Endpoint(Protocol):
    """What the ledger reads of a peer (supernode.core.effects.PeerRef; the console may not import the core)."""

    @property
    def ip(self) -> str: ...

    @property
    def host_name(self) -> str: ...

    @property
    def port(self) -> int: ...


@dataclass
class HostHistory:
    ip: str
    host_name: str = ""
    port: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0
    bytes_down: int = 0  # pieces received from the supernode and from peers
    bytes_up: int = 0  # pieces this host served to peers
    bytes_source: int = 0  # whole downloads it fetched from the source itself
    pieces_down: int = 0
    pieces_up: int = 0
    tasks_fetched: int = 0
    tasks_served: int = 0
    _fetched: "OrderedDict[str, None]" = field(default_factory=OrderedDict, repr=False)
    _served: "OrderedDict[str, None]" = field(default_factory=OrderedDict, repr=False)

    def fetched(self, task_id: str) -> None:
        self.tasks_fetched += _first_time(self._fetched, task_id)

    def served(self, task_id: str) -> None:
        self.tasks_served += _first_time(self._served, task_id)

    def public(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


def _first_time(recent: "OrderedDict[str, None]", task_id: str) -> int:
    if task_id in recent:
        recent.move_to_end(task_id)
        return 0
    recent[task_id] = None
    while len(recent) > RECENT_TASKS:
        recent.popitem(last=False)
    return 1


class Ledger:
    def __init__(self, series: "Series | None" = None, max_hosts: int = MAX_HOSTS):
        self.series = series or Series()
        self.max_hosts = max_hosts
        self.hosts: OrderedDict[str, HostHistory] = OrderedDict()

    def _host(self, ip: str, now: float, host_name: str = "", port: "int | None" = None) -> HostHistory:
        key = host_key(ip)
        host = self.hosts.get(key)
        if host is None:
            host = self.hosts[key] = HostHistory(ip=ip, first_seen=now)
            while len(self.hosts) > self.max_hosts:
                self.hosts.popitem(last=False)
        self.hosts.move_to_end(key)
        host.last_seen = now
        if host_name:
            host.host_name = host_name
        if port is not None and port > 0:
            host.port = port
        return host

    def delivered(self, task_id: str, nbytes: int, client: Endpoint, source: Endpoint | None, now: float) -> None:
        """`source` None = the supernode."""
        nbytes = max(int(nbytes), 0)
        down = self._host(client.ip, now, client.host_name, client.port)
        down.bytes_down += nbytes
        down.pieces_down += 1
        down.fetched(task_id)
        if source is None:
            self.series.add("supernode", nbytes, now)
            return
        up = self._host(source.ip, now, source.host_name, source.port)
        up.bytes_up += nbytes
        up.pieces_up += 1
        up.served(task_id)
        self.series.add("p2p", nbytes, now)

    def back_source(self, ip: str, task_id: str, nbytes: int, now: float) -> None:
        """A dfget reported a download it fetched from the source itself (an unauthenticated report:
        a malformed address is ignored, the length capped)."""
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            return
        nbytes = min(max(int(nbytes), 0), MAX_REPORTED_BYTES)
        host = self._host(ip, now)
        host.bytes_source += nbytes
        host.fetched(task_id)
        self.series.add("source", nbytes, now)

    def origin(self, nbytes: int, now: float) -> None:
        self.series.add("origin", max(int(nbytes), 0), now)

    def view(self, now: float) -> dict[str, Any]:
        return {
            "hosts": {k: h.public() for k, h in self.hosts.items()},
            "series": {"step": self.series.step, "points": self.series.points(now), "totals": self.series.totals(now)},
        }
