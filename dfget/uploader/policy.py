"""The upload server's decisions, free of I/O (spec §7).

Theory of operation: the HTTP shell parses a request into plain values and asks this module
what to do -- which bytes of the service file answer a piece request (`amend_range`), what rate
a task may download at (`share_rate`), which data-directory entries to delete or report down
(`plan_expiry`), whether the server has been idle long enough to stop (`is_idle`), and which
ports to try at start-up (`port_candidates`). Nothing here reads a clock, a file or a socket;
time and directory listings come in as arguments, decisions go out as values.
"""
import hashlib
from dataclasses import dataclass
from typing import Iterable, Mapping

from common.errors import BadInput, RangeNotSatisfiable
from common.pieces import HEAD_SIZE, META_SIZE

SERVICE_SUFFIX = ".service"
EXPIRE_INTERVAL = 15.0          # seconds between data-directory sweeps (spec §7.5)
PORT_BASE = 15000
PORT_SPAN = 50000
PORT_TRIES = 10
_MAX_HEADER_PIECE_SIZE = (1 << 28) - 1   # pieceSize << 4 must fit the 32-bit frame header
_MAX_PAYLOAD = (1 << 24) - 1             # the header's low 24 bits hold the payload length


# ---- names -------------------------------------------------------------------------------------

def check_task_file_name(name: str) -> str:
    """A task file name must be one plain path component; anything else is BadInput."""
    if (not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name
            or name.startswith(".") or len(name) > 255):
        raise BadInput(f"invalid task file name {name!r}")
    return name


def service_file_name(task_file_name: str) -> str:
    return task_file_name + SERVICE_SUFFIX


def task_name_of(file_name: str) -> str:
    """v1's GetTaskName: the data-directory entry's name without `.service`."""
    if file_name.endswith(SERVICE_SUFFIX):
        return file_name[: -len(SERVICE_SUFFIX)]
    return file_name


# ---- piece requests ----------------------------------------------------------------------------

def parse_upload_range(header: "str | None") -> "tuple[int, int]":
    """`bytes=a-b` with exactly one '=' and one '-', integers, b > a (v1 parseRange) -> (a, b)."""
    text = header or ""
    if text.count("=") != 1:
        raise BadInput(f"invalid range {text!r}")
    unit, spec = text.split("=")
    if unit.strip().lower() != "bytes" or spec.count("-") != 1:
        raise BadInput(f"invalid range {text!r}")
    first, last = (p.strip() for p in spec.split("-"))
    if not first.isdigit() or not last.isdigit():
        raise BadInput(f"invalid range {text!r}")
    start, end = int(first), int(last)
    if end <= start:
        raise BadInput(f"invalid range {text!r}: end must be greater than start")
    return start, end


def parse_int_header(name: str, value: "str | None", *, minimum: int = 0) -> int:
    text = (value or "").strip()
    if not text.lstrip("-").isdigit() or int(text) < minimum:
        raise BadInput(f"invalid {name} {value!r}")
    return int(text)


@dataclass(frozen=True)
class PiecePlan:
    """What to send for one piece request: `length` wire bytes, read from `offset` in the file."""
    offset: int          # where the payload starts in the service file
    length: int          # Content-Length: payload plus the frame when `framed`
    framed: bool
    piece_size: int

    @property
    def payload_length(self) -> int:
        return self.length - META_SIZE if self.framed else self.length

    @property
    def head_size(self) -> int:
        return HEAD_SIZE if self.framed else 0


def amend_range(size: int, framed: bool, start: int, length: int, piece_num: int,
                piece_size: int = 0) -> PiecePlan:
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


def parse_piece_request(range_header: "str | None", piece_num: "str | None",
                        piece_size: "str | None", cdn_source: "str | None") -> PieceRequest:
    """Headers of a /peer/file request -> PieceRequest; anything malformed is BadInput (400)."""
    start, end = parse_upload_range(range_header)
    num = parse_int_header("pieceNum", piece_num)
    psize = parse_int_header("pieceSize", piece_size)
    framed = (cdn_source or "").strip().lower() != "source"
    if framed and not 0 < psize <= _MAX_HEADER_PIECE_SIZE:
        raise BadInput(f"invalid pieceSize {piece_size!r}")
    if framed and end - start + 1 - META_SIZE > _MAX_PAYLOAD:
        # The frame header cannot describe it (spec §17.13); v1 clients never ask for this.
        raise BadInput(f"range of {end - start + 1} bytes is longer than a framed piece can be")
    return PieceRequest(start, end - start + 1, num, psize, framed)


def plan_piece(size: int, req: PieceRequest) -> PiecePlan:
    """Amend a parsed request against a service file of `size` bytes (416 if impossible)."""
    return amend_range(size, req.framed, req.start, req.length, req.piece_num, req.piece_size)


def data_dir_id(real_data_dir: str) -> str:
    """A short, non-revealing identity of a server's data directory (sent with /server/ping)."""
    return hashlib.sha256(real_data_dir.encode("utf-8", "surrogateescape")).hexdigest()[:16]


# ---- rate sharing ------------------------------------------------------------------------------

def share_rate(rate: int, total_limit: int, unfinished_rates: Iterable[int]) -> int:
    """A task's share of the host-wide limit: ceil(rate*total/sum) when the sum exceeds it."""
    if total_limit <= 0:
        return rate
    total = sum(unfinished_rates)
    if total > total_limit:
        return -(-rate * total_limit // total)   # integer ceil, as v1
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
    remove_dirs: "tuple[str, ...]" = ()      # sub-directories of the data dir
    delete_files: "tuple[str, ...]" = ()     # files of unknown tasks
    expire: "tuple[tuple[str, str], ...]" = ()   # (file name, task name): service-down + delete + forget


def plan_expiry(entries: Iterable[DataEntry], tasks: Mapping[str, TaskView], now: float,
                expire_time: float) -> ExpiryPlan:
    """v1's sweep (spec §7.5): unknown -> delete; unfinished -> keep; finished and idle for
    longer than `expire_time` (by the later of last access and mtime) -> expire."""
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
    return ExpiryPlan(tuple(dirs), tuple(unknown), tuple(expired))


def is_idle(now: float, last_alive: float, alive_time: float, active_uploads: int = 0) -> bool:
    """True when nothing kept the server alive for `alive_time` seconds (0 disables)."""
    if alive_time <= 0 or active_uploads > 0:
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


def super_node_base_url(super_node: str, default_port: int = 8002) -> str:
    """`ip[:port]` (as sent in /client/finish) -> `http://ip:port`."""
    node = super_node.strip()
    if "://" in node:
        return node.rstrip("/")
    host, sep, port = node.rpartition(":")
    if not sep or not port.isdigit():
        return f"http://{node}:{default_port}"
    return f"http://{node}"
