"""The supernode's own REST API, preheat and console messages (docs/protocol.md): never sent or
read by dfget, so they live apart from the peer protocol in messages.py and a dfget does not
build these dataclasses at start-up (BENCHMARKS.md, helper-dfspeed). Same machinery, same rules:
each class is the only place that knows its JSON keys, and every field a client sends declares
its bounds (wire.py).
"""

from dataclasses import dataclass

from common.protocol.messages import (
    HEADER_LEN,
    IP_LEN,
    NAME_LEN,
    PATH_LEN,
    SHORT_LEN,
    TASK_ID_LEN,
    _id,
    _text,
    _url,
)
from common.protocol.wire import PRINTABLE, Message, check_hostname, check_ipv4, check_peer_port, wire

# ---- REST envelopes and /api/v1 ------------------------------------------------------------------


@dataclass
class ApiError(Message):
    """Body of every non-2xx answer of the REST endpoints."""

    code: int = wire("code", 0, omitempty=False)
    message: str = wire("message", "", omitempty=False)


@dataclass
class ApiPieceErrorRequest(Message):
    """JSON body of GET /api/v1/tasks/{id}/pieces/{range}/error."""

    task_id: str = _id("taskId", max_len=TASK_ID_LEN)
    src_cid: str = _id("srcCid")
    dst_pid: str = _id("dstPid", required=True)
    dst_ip: str = _id("dstIP", max_len=IP_LEN)
    range: str = _id("range", max_len=SHORT_LEN)
    real_md5: str = _id("realMd5", max_len=SHORT_LEN)
    expected_md5: str = _id("expectedMd5", max_len=SHORT_LEN)
    error_type: str = _text("errorType")


@dataclass
class PeerCreateRequest(Message):
    ip: str = wire("IP", "", required=True, check=check_ipv4, max_len=IP_LEN)
    host_name: str = wire("hostName", "", required=True, check=check_hostname, max_len=NAME_LEN)
    port: int = wire("port", 0, check=check_peer_port)
    version: str = _text("version")


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


# ---- /preheats (docs/protocol.md#supernode-system-management-and-preheat) --------------------------------------------


@dataclass
class PreheatCreateRequest(Message):
    """POST /preheats. Harbor also sends "image" and "tag", which are ignored. `platform`
    ("os/arch[/variant]", several joined with ",") is our extension for manifest lists."""

    type: str = _id("type", required=True, max_len=32)
    url: str = _url("url", required=True)
    filter: str = _text("filter", PATH_LEN)
    identifier: str = _text("identifier", PATH_LEN)
    headers: "dict[str, str]" = wire("headers", default_factory=dict, max_len=HEADER_LEN, chars=PRINTABLE)
    platform: str = _text("platform", NAME_LEN)


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
