"""The records the supernode keeps in memory: tasks, peers, client downloads (docs/protocol.md#identifiers,
docs/architecture.md#a-registration-post-peerregistry)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from common import urls
from common.pieces import PieceSizePolicy
from common.protocol.codes import CdnSource, CdnStatus, DfgetTaskStatus
from common.protocol.messages import supernode_cid
from common.source_access import SourceAccess
from supernode.core.identity import Caller, admits

CDN_PATTERN_LOCAL = "local"
CDN_PATTERN_SOURCE = "source"
PEER_PATTERN_CDN = "cdn"
DOWNLOAD_SERVER_BUILTIN = "builtin"
DOWNLOAD_SERVER_EXTERNAL = "external"  # a static server over <home>/repo: it cannot check who asks
MAX_DISPLAY_NAMES = 4


@dataclass(frozen=True)
class Limits:
    """The settings the core decides with (a frozen copy, so the core never sees the config)."""

    peer_up_limit: int = 5
    peer_down_limit: int = 4
    supernode_task_upload_limit: int = 32  # from_settings derives it when the setting is 0
    elimination_limit: int = 5
    failure_count_limit: int = 5
    fail_access_interval: float = 180.0
    task_expire_time: float = 180.0
    peer_gc_delay: float = 180.0
    super_load_reset: float = 30.0
    revalidate_interval: float = 10.0
    young_gc_threshold: int = 100 << 30
    full_gc_threshold: int = 5 << 30
    clean_ratio: int = 1
    piece_size_policy: str = PieceSizePolicy.ADAPTIVE.value
    cdn_pattern: str = CDN_PATTERN_LOCAL
    download_port: int = 8001
    download_server: str = DOWNLOAD_SERVER_BUILTIN

    @classmethod
    def from_settings(cls, settings: Any) -> "Limits":
        names = cls.__dataclass_fields__
        values = {name: getattr(settings, name) for name in names}
        if not values["supernode_task_upload_limit"]:
            values["supernode_task_upload_limit"] = auto_fan_out(
                settings.max_bandwidth, settings.system_reserved_bandwidth
            )
        return cls(**values)


FAN_OUT_SHARE = 2 << 20  # bytes/s each piece the supernode serves should get at least
FAN_OUT_RANGE = (2, 64)


def auto_fan_out(max_bandwidth: int, reserved: int) -> int:
    """How many pieces of one task the supernode serves at once when not set (docs/decisions.md #2).

    Serving more pieces at once than its uplink can feed makes every one of them slow: in the lab
    (an 8 Mbit/s supernode, 32 peers) 32 concurrent pieces each crawled past dfget's piece timeout
    while 2 finished in time. So each piece gets about FAN_OUT_SHARE of the usable bandwidth."""
    usable = max(max_bandwidth - reserved, 0)
    low, high = FAN_OUT_RANGE
    return max(low, min(high, usable // FAN_OUT_SHARE))


@dataclass
class Task:
    id: str
    source: SourceAccess  # the raw URL the first registrant gave, its headers and TLS trust
    task_url: str
    md5: str = ""
    identifier: str = ""
    http_file_length: int = -1  # source length; -1 unknown
    piece_size: int = 0
    piece_total: int = 0
    cdn_status: CdnStatus = CdnStatus.WAITING
    cdn_source: CdnSource = CdnSource.SUPERNODE
    cdn_error: str = ""  # why the last build failed, in one line (the pull answer says it)
    real_md5: str = ""
    file_length: int = 0  # wrapped length, known once the CDN succeeded
    credentialed: bool = False  # docs/decisions.md #9: every registrant must prove access
    grants: "dict[str, float]" = field(default_factory=dict)  # credential fingerprint -> time the source accepted it
    created: float = 0.0
    access_time: float = 0.0
    validated_at: float = 0.0  # last time the source was found unchanged (or first probed)
    display_names: "tuple[str, ...]" = ()  # what registrants called it (cleaned; first few kept)

    def add_display_name(self, name: str) -> None:
        """Remember a registrant's name for the task; the first MAX_DISPLAY_NAMES distinct ones
        stay (a later host cannot rename a task, and a task shared by several tags shows them)."""
        if name and name not in self.display_names and len(self.display_names) < MAX_DISPLAY_NAMES:
            self.display_names += (name,)

    def conflicts_with(self, task_url: str, md5: str, identifier: str) -> bool:
        """§1: same id, but a different URL, md5 (if given) or identifier (if no md5)."""
        if task_url != self.task_url:
            return True
        return md5 != self.md5 if md5 else identifier != self.identifier


@dataclass
class Peer:
    id: str
    ip: str
    host_name: str
    port: int
    version: str = ""
    created: float = 0.0
    uploads: bool = True  # False for port-0 / `pattern: cdn` peers: never a holder


@dataclass
class DfgetTask:
    """One client download (one CID) of one task."""

    cid: str
    task_id: str
    peer_id: str
    path: str
    call_system: str = ""
    super_node_ip: str = ""
    dfdaemon: bool = False
    status: DfgetTaskStatus = DfgetTaskStatus.WAITING
    created: float = 0.0
    client_key: str = ""  # supernode.core.identity: the secret of this registration
    registered_from: str = ""  # the registration's source address
    keyed: bool = False  # the client has used its key: only the key counts now
    # it uploads, and its upload server serves a piece while it is still arriving: the scheduler
    # may name it as the source of a piece it is fetching (docs/decisions.md #25)
    streams_pieces: bool = False

    @property
    def key(self) -> str:
        return dfget_key(self.cid, self.task_id)

    def admits(self, caller: "Caller | None") -> bool:
        """None: an in-process caller (the supernode itself, tests of the core)."""
        return caller is None or admits(self.client_key, self.registered_from, self.keyed, caller)

    def note(self, caller: "Caller | None") -> None:
        """An admitted caller that used the key: from now on the key is required."""
        if caller is not None and caller.key:
            self.keyed = True


def dfget_key(cid: str, task_id: str) -> str:
    return f"{cid}@{task_id}"


def peer_id(host_name: str, ip: str, unix_ns: int) -> str:
    return f"{host_name}-{ip}-{unix_ns}"


def super_cid(advertise_ip: str, task_id: str) -> str:
    return supernode_cid(advertise_ip, task_id)


def may_carry_credentials(source: SourceAccess, task_url: str) -> bool:
    """Could the source have let this request in because of something only its sender has?
    Any client-supplied header counts (no guessing which names are credentials: X-JFrog-Art-Api
    is one), so does URL userinfo and a query the URL filter dropped (signatures, tokens)."""
    return bool(source.headers) or urls.has_userinfo(source.url) or source.url != task_url


REDACTED = urls.REDACTED


def redacted(headers: "Mapping[str, str]") -> "dict[str, str]":
    """The header names without their values, for anything the API or console shows."""
    return {k: REDACTED for k in headers}
