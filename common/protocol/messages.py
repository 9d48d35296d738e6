"""Every request and response of the protocol, each the only place that knows its JSON keys.

Canonical keys are the ones v1's dfget sends (`rawUrl`, `cid`, `ip`); decoding accepts any case.
"""
from dataclasses import dataclass
from typing import Any, Optional

from common.protocol.codes import ResultCode
from common.protocol.wire import Message, check_hostname, check_ipv4, check_non_negative, check_peer_port, wire

LONG_POLL_MAX_SECONDS = 30.0


def _check_long_poll(value: float) -> "str | None":
    if 0 <= value <= LONG_POLL_MAX_SECONDS:
        return None
    return f"{value} is outside 0-{LONG_POLL_MAX_SECONDS:g} seconds"


# ---- envelopes -------------------------------------------------------------------------------

@dataclass
class ResultInfo(Message):
    """The /peer/* envelope, always sent with HTTP 200."""
    code: int = wire("code", 0)
    msg: str = wire("msg", "")
    data: Any = wire("data", None)

    @classmethod
    def of(cls, code: ResultCode, msg: str = "", data: Any = None) -> "ResultInfo":
        return cls(int(code), msg, data)

    @property
    def result(self) -> "ResultCode | int":
        try:
            return ResultCode(self.code)
        except ValueError:
            return self.code


@dataclass
class ApiError(Message):
    """Body of every non-2xx answer of the REST endpoints."""
    code: int = wire("code", 0, omitempty=False)
    message: str = wire("message", "", omitempty=False)


# ---- /peer/registry ----------------------------------------------------------------------------

@dataclass
class RegisterRequest(Message):
    raw_url: str = wire("rawUrl", "", required=True)
    task_url: str = wire("taskUrl", "")
    cid: str = wire("cid", "", required=True)
    ip: str = wire("ip", "", required=True, check=check_ipv4)
    host_name: str = wire("hostName", "")
    port: int = wire("port", 0, check=check_peer_port)
    path: str = wire("path", "", required=True)
    version: str = wire("version", "")
    md5: str = wire("md5", "")
    identifier: str = wire("identifier", "")
    call_system: str = wire("callSystem", "")
    headers: "list[str]" = wire("headers", default_factory=list)
    dfdaemon: bool = wire("dfdaemon", False)
    insecure: bool = wire("insecure", False)
    root_cas: "list[str]" = wire("rootCAs", default_factory=list)
    super_node_ip: str = wire("superNodeIp", "")
    task_id: str = wire("taskId", "")
    file_length: int = wire("fileLength", 0)
    as_seed: bool = wire("asSeed", False)
    pattern: str = wire("pattern", "")


@dataclass
class RegisterResult(Message):
    task_id: str = wire("taskId", "", omitempty=False)
    file_length: int = wire("fileLength", -1, omitempty=False)
    piece_size: int = wire("pieceSize", 0, omitempty=False)
    cdn_source: str = wire("cdnSource", "supernode", omitempty=False)
    as_seed: bool = wire("asSeed", False, omitempty=False)
    seed_task_id: str = wire("seedTaskID", "", omitempty=False)
    # Our extension (issue 11): the secret that ties this client's later reports to it. Sent back
    # in HEADER_CLIENT_KEY; a v1 dfget ignores the unknown field and is checked by its address.
    client_key: str = wire("clientKey", "")


# ---- /peer/task --------------------------------------------------------------------------------

@dataclass
class PullPieceTaskRequest(Message):
    """Query of GET /peer/task. `wait` (seconds) is our long-poll extension (decisions 1)."""
    src_cid: str = wire("srcCid", "", required=True)
    dst_cid: str = wire("dstCid", "")
    range: str = wire("range", "")
    result: int = wire("result", 0)
    status: int = wire("status", 0)
    task_id: str = wire("taskId", "", required=True)
    wait: float = wire("wait", 0.0, check=_check_long_poll)


@dataclass
class PieceTask(Message):
    """One piece assignment in a 601 answer."""
    range: str = wire("range", "", omitempty=False)
    piece_num: int = wire("pieceNum", 0, omitempty=False)
    piece_size: int = wire("pieceSize", 0, omitempty=False)
    piece_md5: str = wire("pieceMd5", "", omitempty=False)
    cid: str = wire("cid", "", omitempty=False)
    peer_ip: str = wire("peerIp", "", omitempty=False)
    peer_port: int = wire("peerPort", 0, omitempty=False)
    path: str = wire("path", "", omitempty=False)
    down_link: int = wire("downLink", 0, omitempty=False)


@dataclass
class FinishResult(Message):
    """Data of a 600 answer: the source's md5 and the wrapped CDN length."""
    md5: str = wire("md5", "", omitempty=False)
    file_length: int = wire("fileLength", 0, omitempty=False)


# ---- /peer/piece/suc, /peer/piece/error, /peer/service/down ------------------------------------

@dataclass
class PieceSuccessRequest(Message):
    task_id: str = wire("taskId", "", required=True)
    cid: str = wire("cid", "", required=True)
    dst_cid: str = wire("dstCid", "")
    piece_range: str = wire("pieceRange", "", required=True)


@dataclass
class PieceErrorRequest(Message):
    """Query of GET /peer/piece/error (legacy)."""
    task_id: str = wire("taskId", "", required=True)
    range: str = wire("range", "", required=True)
    src_cid: str = wire("srcCid", "")
    dst_cid: str = wire("dstCid", "", required=True)
    dst_ip: str = wire("dstIp", "")
    real_md5: str = wire("realMd5", "")
    expected_md5: str = wire("expectedMd5", "")
    error_type: str = wire("errorType", "")


@dataclass
class ApiPieceErrorRequest(Message):
    """JSON body of GET /api/v1/tasks/{id}/pieces/{range}/error."""
    task_id: str = wire("taskId", "")
    src_cid: str = wire("srcCid", "")
    dst_pid: str = wire("dstPid", "", required=True)
    dst_ip: str = wire("dstIP", "")
    range: str = wire("range", "")
    real_md5: str = wire("realMd5", "")
    expected_md5: str = wire("expectedMd5", "")
    error_type: str = wire("errorType", "")


@dataclass
class ServiceDownRequest(Message):
    task_id: str = wire("taskId", "", required=True)
    cid: str = wire("cid", "", required=True)


# ---- /task/metrics ------------------------------------------------------------------------------

@dataclass
class TaskMetricsRequest(Message):
    ip: str = wire("IP", "")
    port: int = wire("port", 0)
    task_id: str = wire("taskId", "")
    cid: str = wire("cID", "")
    call_system: str = wire("callSystem", "")
    duration: float = wire("duration", 0.0, check=check_non_negative)
    success: bool = wire("success", False)
    back_source_reason: str = wire("backsourceReason", "")
    file_length: int = wire("fileLength", 0)


# ---- /api/v1 ------------------------------------------------------------------------------------

@dataclass
class PeerCreateRequest(Message):
    ip: str = wire("IP", "", required=True, check=check_ipv4)
    host_name: str = wire("hostName", "", required=True, check=check_hostname)
    port: int = wire("port", 0, check=check_peer_port)
    version: str = wire("version", "")


@dataclass
class PeerCreateResponse(Message):
    id: str = wire("ID", "", omitempty=False)


@dataclass
class PeerInfo(Message):
    id: str = wire("ID", "")
    ip: str = wire("IP", "")
    host_name: str = wire("hostName", "")
    port: int = wire("port", 0)
    version: str = wire("version", "")
    created: str = wire("created", "")


@dataclass
class TaskInfo(Message):
    id: str = wire("ID", "")
    cdn_status: str = wire("cdnStatus", "")
    file_length: int = wire("fileLength", 0)
    http_file_length: int = wire("httpFileLength", 0)
    piece_size: int = wire("pieceSize", 0)
    piece_total: int = wire("pieceTotal", 0)
    raw_url: str = wire("rawURL", "")
    task_url: str = wire("taskURL", "")
    md5: str = wire("md5", "")
    real_md5: str = wire("realMd5", "")
    identifier: str = wire("identifier", "")
    headers: "dict[str, str]" = wire("headers", default_factory=dict)


@dataclass
class VersionInfo(Message):
    arch: str = wire("Arch", "", omitempty=False)
    build_date: str = wire("BuildDate", "", omitempty=False)
    go_version: str = wire("GoVersion", "", omitempty=False)
    os: str = wire("OS", "", omitempty=False)
    version: str = wire("Version", "", omitempty=False)
    revision: str = wire("Revision", "")


# ---- peer upload server -----------------------------------------------------------------------

@dataclass
class HostMeta(Message):
    """`<home>/meta/host.meta`: where this host's upload server listens."""
    service_port: int = wire("servicePort", 0, omitempty=False)


@dataclass
class ClientFinishRequest(Message):
    """Query of GET /client/finish on the upload server."""
    task_file_name: str = wire("taskFileName", "", required=True)
    task_id: str = wire("taskID", "", required=True)
    cid: str = wire("cid", "", required=True)
    super_node: str = wire("superNode", "")


# The CID under which the supernode's CDN serves a task's pieces (spec §1).
SUPERNODE_CID_PREFIX = "cdnnode:"


def supernode_cid(advertise_ip: str, task_id: str) -> str:
    return f"{SUPERNODE_CID_PREFIX}{advertise_ip}~{task_id}"


def is_supernode_cid(cid: str) -> bool:
    return cid.startswith(SUPERNODE_CID_PREFIX)


# Upload-server and piece-request header names (spec §4.3, §7.2).
HEADER_PIECE_NUM = "pieceNum"
HEADER_PIECE_SIZE = "pieceSize"
HEADER_CDN_SOURCE = "cdnSource"
HEADER_RATE_LIMIT = "rateLimit"
HEADER_DATA_DIR = "dataDir"
HEADER_TOTAL_LIMIT = "totalLimit"
# The registration's clientKey, on every later report of that client (pull, piece success and
# error, service down, re-registration) and on /client/finish to its upload server. A header,
# not a query parameter, so that no access log records it.
HEADER_CLIENT_KEY = "X-Dragonfly-Client-Key"


def optional(value) -> Optional[Any]:
    return value if value not in ("", None) else None


# ---- /preheats (spec §13) ---------------------------------------------------------------------

@dataclass
class PreheatCreateRequest(Message):
    """POST /preheats. Harbor also sends "image" and "tag", which are ignored. `platform`
    ("os/arch[/variant]", several joined with ",") is our extension for manifest lists."""
    type: str = wire("type", "", required=True)
    url: str = wire("url", "", required=True)
    filter: str = wire("filter", "")
    identifier: str = wire("identifier", "")
    headers: "dict[str, str]" = wire("headers", default_factory=dict)
    platform: str = wire("platform", "")


@dataclass
class PreheatCreateResponse(Message):
    id: str = wire("ID", "", omitempty=False)


@dataclass
class PreheatStatusInfo(Message):
    """GET /preheats/{id}: what Harbor's provider reads (times RFC 3339, UTC)."""
    id: str = wire("ID", "", omitempty=False)
    status: str = wire("status", "", omitempty=False)
    start_time: str = wire("startTime", "", omitempty=False)
    finish_time: str = wire("finishTime", "", omitempty=False)
    error_msg: str = wire("errorMsg", "", omitempty=False)


@dataclass
class PreheatRecordInfo(Message):
    """One item of GET /preheats: v1's raw record (times in ms since the epoch)."""
    id: str = wire("ID", "", omitempty=False)
    url: str = wire("URL", "", omitempty=False)
    type: str = wire("Type", "", omitempty=False)
    filter: str = wire("Filter", "", omitempty=False)
    identifier: str = wire("Identifier", "", omitempty=False)
    headers: "dict[str, str]" = wire("Headers", default_factory=dict, omitempty=False)
    parent_id: str = wire("ParentID", "", omitempty=False)
    children: "list[str]" = wire("Children", default_factory=list, omitempty=False)
    status: str = wire("Status", "", omitempty=False)
    start_time: int = wire("StartTime", 0, omitempty=False)
    finish_time: int = wire("FinishTime", 0, omitempty=False)
    error_msg: str = wire("ErrorMsg", "", omitempty=False)
