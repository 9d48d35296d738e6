"""Where one piece is fetched from and with which headers (docs/architecture.md#a-pull-get-peertask,
docs/protocol.md#pieces-commonpiecespy).

* Framed pieces (cdnSource `supernode`): `http://<peerIp>:<peerPort><path>` with the wrapped
  range, `pieceNum`, `pieceSize` and `User-Agent: dfget/<v>`.
* Raw pieces (cdnSource `source`): the user's headers plus `cdnSource: source`, the range clipped
  to the file length; a path holding `://` is the source URL itself, fetched directly, with the
  range shifted into the user's own `Range` if one was given.
"""

from dataclasses import dataclass

from common.errors import RangeError
from common.pieces import META_SIZE, format_range, parse_range
from common.protocol.codes import CdnSource
from common.protocol.messages import HEADER_CDN_SOURCE, HEADER_PIECE_NUM, HEADER_PIECE_SIZE, PieceTask


@dataclass(frozen=True)
class PieceRequest:
    url: str
    headers: "dict[str, str]"
    framed: bool
    offset: int  # where the payload goes in the assembled file


def clip_range(range_: str, file_length: int) -> str:
    """v1's wipeOutOfRange: end clipped to file_length - 1."""
    start, end = parse_range(range_)
    if file_length > 0 and end >= file_length:
        end = file_length - 1
    return format_range(start, end)


def shift_into(range_: str, user_range: str) -> str:
    """v1's getRealRange: a piece range relative to the user's `bytes=lo-hi` range."""
    spec = user_range.partition("=")[2] if user_range else ""
    try:
        lower, upper = parse_range(spec)
        start, end = parse_range(range_)
    except RangeError:
        return range_
    return format_range(start + lower, min(end + lower, upper))


def payload_offset(task: PieceTask, framed: bool) -> int:
    return task.piece_num * (task.piece_size - (META_SIZE if framed else 0))


def piece_request(
    task: PieceTask,
    cdn_source: str,
    version: str,
    *,
    file_length: int = -1,
    user_headers: "dict[str, str] | None" = None,
) -> PieceRequest:
    headers = {
        HEADER_PIECE_NUM: str(task.piece_num),
        HEADER_PIECE_SIZE: str(task.piece_size),
        "User-Agent": f"dfget/{version}",
    }
    framed = cdn_source != CdnSource.SOURCE.value
    rng = task.range
    if not framed:
        headers.update(user_headers or {})
        headers[HEADER_CDN_SOURCE] = CdnSource.SOURCE.value
        rng = clip_range(rng, file_length)
    if "://" in task.path:
        rng = shift_into(rng, (user_headers or {}).get("Range", ""))
        url = task.path
    else:
        url = f"http://{task.peer_ip}:{task.peer_port}{task.path}"
    headers["Range"] = f"bytes={rng}"
    return PieceRequest(url, headers, framed, payload_offset(task, framed))
