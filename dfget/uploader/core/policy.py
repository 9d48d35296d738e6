"""The upload server's decisions, free of I/O (docs/architecture.md#the-upload-servers-life-cycle).

Theory of operation: the HTTP shell parses a request into plain values and asks this module
what to do -- which bytes of the service file answer a piece request (`amend_range`), what rate
a task may download at (`share_rate`), which data-directory entries to delete or report down
(`plan_expiry`), whether the server has been idle long enough to stop (`is_idle`), and which
ports to try at start-up (`port_candidates`). Nothing here reads a clock, a file or a socket;
time and directory listings come in as arguments, decisions go out as values.
"""

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from common.dfget_files import task_name_of
from common.errors import BadInput, RangeError, RangeNotSatisfiable
from common.http_range import parse_byte_range
from common.pieces import HEAD_SIZE, META_SIZE

EXPIRE_INTERVAL = 15.0  # seconds between data-directory sweeps (docs/architecture.md#the-upload-servers-life-cycle)
PORT_BASE = 15000
PORT_SPAN = 50000
PORT_TRIES = 10
_MAX_HEADER_PIECE_SIZE = (1 << 28) - 1  # pieceSize << 4 must fit the 32-bit frame header
_MAX_PAYLOAD = (1 << 24) - 1  # the header's low 24 bits hold the payload length
_MAX_SUPER_NODE = 260  # a DNS name (253) and a port
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


# ---- names -------------------------------------------------------------------------------------


def check_task_file_name(name: str) -> str:
    """A task file name must be one plain path component; anything else is BadInput."""
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or name.startswith(".")
        or len(name) > 255
    ):
        raise BadInput(f"invalid task file name {name!r}")
    return name


# ---- piece requests ----------------------------------------------------------------------------


def parse_upload_range(header: "str | None") -> "tuple[int, int]":
    """A closed `bytes=a-b` with b > a (what v1's parseRange accepts) -> (a, b)."""
    try:
        wanted = parse_byte_range(header)
    except RangeError:
        raise BadInput(f"invalid range {(header or '')[:100]!r}") from None
    if wanted.start is None or wanted.end is None or wanted.end <= wanted.start:
        raise BadInput(f"invalid range {(header or '')[:100]!r}: expected bytes=<start>-<end>, end > start")
    return wanted.start, wanted.end


def parse_int_header(name: str, value: "str | None", *, minimum: int = 0) -> int:
    text = (value or "").strip()
    if not text.lstrip("-").isdigit() or int(text) < minimum:
        raise BadInput(f"invalid {name} {value!r}")
    return int(text)


@dataclass(frozen=True)
class PiecePlan:
    """What to send for one piece request: `length` wire bytes, read from `offset` in the file."""

    offset: int  # where the payload starts in the service file
    length: int  # Content-Length: payload plus the frame when `framed`
    framed: bool
    piece_size: int

    @property
    def payload_length(self) -> int:
        return self.length - META_SIZE if self.framed else self.length

    @property
    def head_size(self) -> int:
        return HEAD_SIZE if self.framed else 0


def amend_range(size: int, framed: bool, start: int, length: int, piece_num: int, piece_size: int = 0) -> PiecePlan:
    """v1's amendRange: map a wrapped range onto the raw service file of `size` bytes.

    With framing the raw offset is `start - piece_num*5` and the request must cover the 5-byte
    frame; a range running past the end of the file is shortened; a negative offset (or, without
    framing, an offset at or beyond EOF) is not satisfiable.
    """
    pad = META_SIZE if framed else 0
    offset = start - piece_num * pad
    if length < pad or offset < 0:
        raise RangeNotSatisfiable("range not satisfiable")
    if offset >= size and not framed:
        raise RangeNotSatisfiable("range not satisfiable")
    if offset + length - pad > size:
        length = max(size - offset, 0) + pad
    return PiecePlan(offset=offset, length=length, framed=framed, piece_size=piece_size)


@dataclass(frozen=True)
class PieceRequest:
    """The parsed headers of one /peer/file request."""

    start: int
    length: int
    piece_num: int
    piece_size: int
    framed: bool


def parse_piece_request(
    range_header: "str | None", piece_num: "str | None", piece_size: "str | None", cdn_source: "str | None"
) -> PieceRequest:
    """Headers of a /peer/file request -> PieceRequest; anything malformed is BadInput (400)."""
    start, end = parse_upload_range(range_header)
    num = parse_int_header("pieceNum", piece_num)
    psize = parse_int_header("pieceSize", piece_size)
    framed = (cdn_source or "").strip().lower() != "source"
    if framed and not 0 < psize <= _MAX_HEADER_PIECE_SIZE:
        raise BadInput(f"invalid pieceSize {piece_size!r}")
    if framed and end - start + 1 - META_SIZE > _MAX_PAYLOAD:
        # The frame header cannot describe it (docs/protocol.md#pieces-commonpiecespy); v1 clients never ask for this.
        raise BadInput(f"range of {end - start + 1} bytes is longer than a framed piece can be")
    return PieceRequest(start, end - start + 1, num, psize, framed)


def plan_piece(size: int, req: PieceRequest) -> PiecePlan:
    """Amend a parsed request against a service file of `size` bytes (416 if impossible)."""
    return amend_range(size, req.framed, req.start, req.length, req.piece_num, req.piece_size)


def plan_piece_in_flight(size: int, req: PieceRequest, flight_offset: int, flight_length: int) -> "PiecePlan | None":
    """A request for a piece still arriving, whose payload is `flight_length` bytes at
    `flight_offset` of the service file (docs/decisions.md #25): planned as if the piece were
    complete (its full length, not what the file holds yet). None if the request is not for
    that piece: it is planned against the file as it is, 416 included."""
    if not req.framed or flight_length <= 0 or req.start - req.piece_num * META_SIZE != flight_offset:
        return None
    return plan_piece(max(size, flight_offset + flight_length), req)


def data_dir_id(real_data_dir: str) -> str:
    """A short, non-revealing identity of a server's data directory (sent with /server/ping)."""
    return hashlib.sha256(real_data_dir.encode("utf-8", "surrogateescape")).hexdigest()[:16]


# ---- who may use the control endpoints -------------------------------------------------------

# Headers every browser adds and no dfget sends: a web page in a browser on this host must not
# be able to drive the control endpoints through a plain cross-site GET.
BROWSER_HEADERS = ("Origin", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest")
_CANONICAL_LOOPBACK = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


def is_local_request(remote_addr: str, local_addr: str) -> bool:
    """Did the request come from this host? A client that does not choose its source address
    (every dfget, v1's included) connects from 127.0.0.1 / ::1 to a loopback address, and from
    the very address it dials otherwise (the host's own IP: no other host can complete a TCP
    handshake from it). Anything else counts as another host -- also other 127.x addresses,
    which the tests use to stand in for other hosts."""
    remote = _ip(remote_addr)
    if remote is None:
        return False
    if remote in _CANONICAL_LOOPBACK:
        return True
    local = _ip(local_addr)
    return local is not None and remote == local and not remote.is_unspecified


def is_address_host(host_header: str) -> bool:
    """A Host header naming an IP address or localhost (how every dfget addresses its server).
    A DNS name there is a web page that rebound its name to this host: never a dfget."""
    host = (host_header or "").strip()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return host.lower() == "localhost" or _ip(host) is not None


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    mapped = getattr(addr, "ipv4_mapped", None)
    return mapped or addr


MAX_CONNECTIONS = 512  # open connections (one thread each) the server holds at once
MAX_CONNECTIONS_PER_ADDRESS = 32  # ... from one other host (a peer needs a handful)


def admit_connection(
    open_total: int,
    open_from_address: int,
    local: bool,
    max_total: int = MAX_CONNECTIONS,
    max_per_address: int = MAX_CONNECTIONS_PER_ADDRESS,
) -> bool:
    """May one more connection be served? Every host's share is bounded, so that one host
    holding slow connections cannot take every thread; this host's own dfgets (all from one
    loopback address) only count toward the total."""
    if open_total >= max_total:
        return False
    return local or open_from_address < max_per_address


# ---- rate sharing ------------------------------------------------------------------------------


def share_rate(rate: int, total_limit: int, unfinished_rates: Iterable[int]) -> int:
    """A task's share of the host-wide limit: ceil(rate*total/sum) when the sum exceeds it."""
    if total_limit <= 0:
        return rate
    total = sum(unfinished_rates)
    if total > total_limit:
        return -(-rate * total_limit // total)  # integer ceil, as v1
    return rate


# ---- expiry and idleness -----------------------------------------------------------------------


@dataclass(frozen=True)
class DataEntry:
    """One entry of the data directory as seen by the sweep."""

    name: str
    is_dir: bool
    mtime: float


@dataclass(frozen=True)
class TaskView:
    """What the expiry decision needs to know about a registered task."""

    finished: bool
    access_time: float


@dataclass(frozen=True)
class ExpiryPlan:
    remove_dirs: "tuple[str, ...]" = ()  # sub-directories of the data dir
    delete_files: "tuple[str, ...]" = ()  # files of unknown tasks
    expire: "tuple[tuple[str, str], ...]" = ()  # (file name, task name): service-down + delete + forget


def plan_expiry(
    entries: Iterable[DataEntry], tasks: Mapping[str, TaskView], now: float, expire_time: float, own: bool = True
) -> ExpiryPlan:
    """v1's sweep (docs/architecture.md#the-upload-servers-life-cycle): unknown -> delete; unfinished -> keep; finished
    and idle for
    longer than `expire_time` (by the later of last access and mtime) -> expire.

    `own`: the server's own data directory. Another home's directory (issue 12) only ever loses
    the files of its finished, expired tasks: what we were not told about is not ours to delete."""
    dirs, unknown, expired = [], [], []
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.is_dir:
            dirs.append(entry.name)
            continue
        task_name = task_name_of(entry.name)
        task = tasks.get(task_name)
        if task is None:
            unknown.append(entry.name)
        elif task.finished and now - max(task.access_time, entry.mtime) > expire_time:
            expired.append((entry.name, task_name))
    if not own:
        return ExpiryPlan(expire=tuple(expired))
    return ExpiryPlan(tuple(dirs), tuple(unknown), tuple(expired))


def is_idle(now: float, last_alive: float, alive_time: float) -> bool:
    """True when nothing kept the server alive for `alive_time` seconds (0 disables). Uploads
    count by their progress (every chunk sent), not by being open: a stalled one keeps nothing up."""
    if alive_time <= 0:
        return False
    return now - last_alive >= alive_time


def idle_deadline(last_alive: float, alive_time: float) -> float:
    return last_alive + alive_time


# ---- ports -------------------------------------------------------------------------------------


def port_candidates(port: int, unix_seconds: float) -> "list[int]":
    """`--port` if given (one try), else 10 ports from 15000 + (t/300 mod 50000)."""
    if port > 0:
        return [port]
    base = PORT_BASE + (int(unix_seconds) // 300) % PORT_SPAN
    return [p for p in (base + i for i in range(PORT_TRIES)) if p <= 65535]


def parse_super_node(text: str, default_port: int = 8002) -> "tuple[str, int]":
    """`host[:port]` as a dfget sends it in /client/finish -> (host, port); anything else (a
    scheme, a path, userinfo, a query, spaces, a port out of range) is BadInput: the server
    later calls this address, so it must never be a URL an attacker chose."""
    if len(text) > _MAX_SUPER_NODE or not text:
        raise BadInput("invalid superNode")
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = text, str(default_port)
    if not port.isdigit() or not 0 < int(port) <= 65535 or not _is_host_name(host):
        raise BadInput(f"invalid superNode {text!r}")
    return host, int(port)


def _is_host_name(host: str) -> bool:
    """An IPv4 literal or a DNS name: letters, digits, '-' and '.', labels of 1-63 characters."""
    if not host or len(host) > 253:
        return False
    return all(
        0 < len(label) <= 63 and set(label) <= _HOST_CHARS and not label.startswith("-") for label in host.split(".")
    )


def super_node_base_url(super_node: str, default_port: int = 8002) -> str:
    """`ip[:port]` (as sent in /client/finish) -> `http://ip:port`; BadInput for anything else."""
    host, port = parse_super_node(super_node, default_port)
    return f"http://{host}:{port}"
