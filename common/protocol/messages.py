"""Every request and response of the protocol, each the only place that knows its JSON keys.

Canonical keys are the ones v1's dfget sends (`rawUrl`, `cid`, `ip`); decoding accepts any case.
Every field a client sends declares its bounds here (length, characters, items; see wire.py), so
every route that decodes a message refuses oversized or malformed fields the same way.
"""

from dataclasses import dataclass
from typing import Any

from common.protocol.codes import ResultCode
from common.protocol.wire import (
    PRINTABLE,
    VISIBLE,
    Message,
    check_ipv4,
    check_non_negative,
    check_peer_port,
    wire,
)
from common.source_access import Headers, SourceAccess, Tls

LONG_POLL_MAX_SECONDS = 30.0

# Field bounds: far above any legitimate value (v1's cids are ~40 characters, task ids 64), far
# below what costs memory. Texts not listed keep wire.MAX_TEXT.
URL_LEN = 16384  # signed object-store URLs run to a few KiB
PATH_LEN = 4096  # an upload path carries the output file's name
ID_LEN = 256  # cids and peer ids ("cdnnode:<ip>~<taskId>" included)
TASK_ID_LEN = 128  # sha256 hex is 64
IP_LEN = 64
NAME_LEN = 255  # host names (RFC 1123 allows 253)
SHORT_LEN = 128  # versions, digests, call systems, reasons, ranges
HEADER_LEN = 8192  # one "Name: value" header
CERT_LEN = 32768  # one root CA (PEM or base64 DER)


def _url(key: str, required: bool = False) -> Any:
    return wire(key, "", required=required, max_len=URL_LEN, chars=PRINTABLE)


def _id(key: str, required: bool = False, max_len: int = ID_LEN) -> Any:
    return wire(key, "", required=required, max_len=max_len, chars=VISIBLE)


def _text(key: str, max_len: int = SHORT_LEN, required: bool = False) -> Any:
    return wire(key, "", required=required, max_len=max_len, chars=PRINTABLE)


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


# ---- /peer/registry ----------------------------------------------------------------------------


@dataclass
class RegisterRequest(Message):
    raw_url: str = _url("rawUrl", required=True)
    task_url: str = _url("taskUrl")
    cid: str = _id("cid", required=True)
    ip: str = wire("ip", "", required=True, check=check_ipv4, max_len=IP_LEN)
    host_name: str = _text("hostName", NAME_LEN)
    port: int = wire("port", 0, check=check_peer_port)
    path: str = _text("path", PATH_LEN, required=True)
    version: str = _text("version")
    md5: str = _id("md5", max_len=SHORT_LEN)
    identifier: str = _text("identifier", PATH_LEN)
    call_system: str = _text("callSystem")
    headers: "list[str]" = wire("headers", default_factory=list, max_len=HEADER_LEN, chars=PRINTABLE)
    dfdaemon: bool = wire("dfdaemon", False)
    insecure: bool = wire("insecure", False)
    root_cas: "list[str]" = wire("rootCAs", default_factory=list, max_items=16, max_len=CERT_LEN, chars=PRINTABLE)
    super_node_ip: str = _id("superNodeIp", max_len=NAME_LEN)
    task_id: str = _id("taskId", max_len=TASK_ID_LEN)
    file_length: int = wire("fileLength", 0)
    as_seed: bool = wire("asSeed", False)
    pattern: str = _id("pattern", max_len=SHORT_LEN)
    # Our extension (cut-through, docs/decisions.md #25): this peer's upload server serves a
    # piece while its dfget is still receiving it, so the supernode may name it as the source of
    # a piece it is fetching. A v1 dfget never sends it; a v1 supernode ignores it.
    streams_pieces: bool = wire("streamsPieces", False)

    def source(self) -> SourceAccess:
        """How to reach the source this registration names: rawUrl, headers, insecure and rootCAs."""
        return SourceAccess(
            self.raw_url, Headers.from_lines(self.headers), Tls(insecure=self.insecure, root_cas=tuple(self.root_cas))
        )


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
    """Query of GET /peer/task. `wait` (seconds) is our long-poll extension (docs/decisions.md #1)."""

    src_cid: str = _id("srcCid", required=True)
    dst_cid: str = _id("dstCid")
    range: str = _id("range", max_len=SHORT_LEN)
    result: int = wire("result", 0)
    status: int = wire("status", 0)
    task_id: str = _id("taskId", required=True, max_len=TASK_ID_LEN)
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
    task_id: str = _id("taskId", required=True, max_len=TASK_ID_LEN)
    cid: str = _id("cid", required=True)
    dst_cid: str = _id("dstCid")
    piece_range: str = _id("pieceRange", required=True, max_len=SHORT_LEN)


@dataclass
class PieceErrorRequest(Message):
    """Query of GET /peer/piece/error (legacy)."""

    task_id: str = _id("taskId", required=True, max_len=TASK_ID_LEN)
    range: str = _id("range", required=True, max_len=SHORT_LEN)
    src_cid: str = _id("srcCid")
    dst_cid: str = _id("dstCid", required=True)
    dst_ip: str = _id("dstIp", max_len=IP_LEN)
    real_md5: str = _id("realMd5", max_len=SHORT_LEN)
    expected_md5: str = _id("expectedMd5", max_len=SHORT_LEN)
    error_type: str = _text("errorType")


@dataclass
class ServiceDownRequest(Message):
    task_id: str = _id("taskId", required=True, max_len=TASK_ID_LEN)
    cid: str = _id("cid", required=True)


# ---- /task/metrics ------------------------------------------------------------------------------


@dataclass
class TaskMetricsRequest(Message):
    ip: str = _id("IP", max_len=IP_LEN)
    port: int = wire("port", 0)
    task_id: str = _id("taskId", max_len=TASK_ID_LEN)
    cid: str = _id("cID")
    call_system: str = _text("callSystem")
    duration: float = wire("duration", 0.0, check=check_non_negative)
    success: bool = wire("success", False)
    back_source_reason: str = _text("backsourceReason")
    file_length: int = wire("fileLength", 0)


# ---- peer upload server -----------------------------------------------------------------------


@dataclass
class HostMeta(Message):
    """`<home>/meta/host.meta`: where this host's upload server listens."""

    service_port: int = wire("servicePort", 0, omitempty=False)


@dataclass
class ClientFinishRequest(Message):
    """Query of GET /client/finish on the upload server."""

    task_file_name: str = _text("taskFileName", PATH_LEN, required=True)
    task_id: str = _id("taskID", required=True, max_len=TASK_ID_LEN)
    cid: str = _id("cid", required=True)
    super_node: str = _id("superNode", max_len=NAME_LEN)


# The CID under which the supernode's CDN serves a task's pieces (docs/protocol.md#identifiers).
SUPERNODE_CID_PREFIX = "cdnnode:"


def supernode_cid(advertise_ip: str, task_id: str) -> str:
    return f"{SUPERNODE_CID_PREFIX}{advertise_ip}~{task_id}"


def is_supernode_cid(cid: str) -> bool:
    return cid.startswith(SUPERNODE_CID_PREFIX)


# Upload-server and piece-request header names (docs/architecture.md#a-pull-get-peertask,
# docs/protocol.md#peer-upload-server).
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
# A registration header (in `headers`, so a v1 dfget run by dfdaemon carries it too) naming the
# task for people: dfdaemon sends the image a layer belongs to (common/image_names.py). The
# supernode takes it out of the task's headers: it never reaches the source or the task's identity.
HEADER_DISPLAY_NAME = "X-Dragonfly-Display-Name"
# On our upload server's answers to /check and /server/ping: it streams a piece still arriving
# (docs/decisions.md #25), so its dfget may register `streamsPieces`. A v1 server, or one of ours
# from before cut-through, never sends it.
HEADER_STREAMS_PIECES = "X-Dragonfly-Streams-Pieces"


def optional(value: Any) -> Any | None:
    return value if value not in ("", None) else None
