"""The piece bitset of docs/architecture.md#scheduling-and-loads, kept for the CDN of a task and for every client.

Theory: bit `piece*8 + status` means "piece is in status" (RUNNING 0, SUCCESS 1, FAILED 2); at most
one of a piece's 8 bits is set. An update of a piece whose SUCCESS bit is set changes nothing
(success is sticky). Otherwise the piece's bits are cleared; WAITING leaves them clear, SEMISUC
is recorded as SUCCESS, any other status sets its own bit. `update` says whether anything changed.
"""

from common.protocol.codes import PieceStatus

BITS_PER_PIECE = 8


class PieceBits:
    __slots__ = ("_status", "_done")

    def __init__(self) -> None:
        self._status: dict[int, PieceStatus] = {}
        self._done: set[int] = set()

    def update(self, piece: int, status: PieceStatus) -> bool:
        if piece in self._done:
            return False
        status = PieceStatus(status)
        if status is PieceStatus.SEMISUC:
            status = PieceStatus.SUCCESS
        if status is PieceStatus.WAITING:
            self._status.pop(piece, None)
        else:
            self._status[piece] = status
        if status is PieceStatus.SUCCESS:
            self._done.add(piece)
        return True

    def status(self, piece: int) -> PieceStatus:
        return self._status.get(piece, PieceStatus.WAITING)

    def is_success(self, piece: int) -> bool:
        return piece in self._done

    def successes(self) -> "frozenset[int]":
        return frozenset(self._done)

    def success_count(self) -> int:
        return len(self._done)

    # Set algebra without copying both sides first (these run on every /peer/task):
    def successes_missing_from(self, other: "PieceBits") -> "set[int]":
        """Pieces SUCCESS here and not in `other` (a new set)."""
        return self._done - other._done

    def common_success_count(self, other: "PieceBits") -> int:
        return len(self._done & other._done)

    @property
    def value(self) -> int:
        """The bitset as v1's integer encoding."""
        return sum(1 << (piece * BITS_PER_PIECE + int(s)) for piece, s in self._status.items())

    def reset(self) -> None:
        self._status.clear()
        self._done.clear()
