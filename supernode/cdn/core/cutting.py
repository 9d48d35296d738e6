"""Cutting a source stream into framed pieces (pure: no I/O, no clock).

Raw source bytes go in, in chunks of any size; framed pieces come out, numbered from
`start_piece`, each with the md5 of its framed bytes (docs/protocol.md#pieces-commonpiecespy). The cutter also keeps the
running md5 of every raw byte (the file's `realMd5`), including the bytes of pieces cut before a
resume when the caller seeds it with their hash. An empty source yields one empty, 5-byte piece.
"""

import hashlib
from dataclasses import dataclass

from common.pieces import HEAD_SIZE, META_SIZE, TAIL, frame, frame_header, payload_size


@dataclass(frozen=True)
class CutPiece:
    num: int
    data: bytes | bytearray  # the framed piece: header + payload + 0x7f (a bytearray nobody else holds)
    md5: str  # md5 hex of `data`

    @property
    def wrapped_len(self) -> int:
        return len(self.data)

    def offset(self, piece_size: int) -> int:
        return self.num * piece_size


def cut_piece(num: int, payload: bytes | bytearray, piece_size: int) -> CutPiece:
    data = frame(bytes(payload), piece_size)
    return CutPiece(num, data, hashlib.md5(data).hexdigest())


class PieceCutter:
    """Feed raw bytes; collect whole framed pieces; `finish()` flushes the last, short one.

    Bytes are copied once, straight into the frame of the piece being filled (a full sized
    bytearray with room for the header and trailer); a full frame is handed out as is. Slicing
    a growing buffer, copying it to bytes and concatenating a frame cost more than both md5s."""

    def __init__(self, piece_size: int, start_piece: int = 0, prior_md5: "hashlib._Hash | None" = None) -> None:
        self.piece_size = piece_size
        self.payload = payload_size(piece_size)
        self.next_num = start_piece
        self.received = start_piece * self.payload  # raw bytes accounted for so far
        self._hash = prior_md5.copy() if prior_md5 is not None else hashlib.md5()
        self._frame: bytearray | None = None  # bytearray(META_SIZE + payload) of the piece being filled
        self._filled = 0  # payload bytes in it
        self._finished = False

    def feed(self, chunk: bytes) -> "list[CutPiece]":
        if self._finished:
            raise ValueError("feed() after finish()")
        if not chunk:
            return []
        self._hash.update(chunk)
        self.received += len(chunk)
        view = memoryview(chunk).cast("B")
        out = []
        while view:
            if self._frame is None:
                self._frame = bytearray(self.payload + META_SIZE)
            frame = self._frame
            take = min(self.payload - self._filled, len(view))
            at = HEAD_SIZE + self._filled
            frame[at : at + take] = view[:take]
            self._filled += take
            view = view[take:]
            if self._filled == self.payload:
                out.append(self._emit_full(frame))
        return out

    def finish(self) -> "list[CutPiece]":
        """The trailing partial piece, or the single empty piece of an empty source."""
        if self._finished:
            return []
        self._finished = True
        if self._filled or self.next_num == 0:
            payload = self._frame[HEAD_SIZE : HEAD_SIZE + self._filled] if self._frame is not None else b""
            self._frame, self._filled = None, 0
            return [self._emit(payload)]
        return []

    def _emit_full(self, data: bytearray) -> CutPiece:
        data[:HEAD_SIZE] = frame_header(self.payload, self.piece_size)
        data[-1] = TAIL
        self._frame, self._filled = None, 0
        piece = CutPiece(self.next_num, data, hashlib.md5(data).hexdigest())
        self.next_num += 1
        return piece

    def _emit(self, payload: bytes | bytearray) -> CutPiece:
        piece = cut_piece(self.next_num, payload, self.piece_size)
        self.next_num += 1
        return piece

    @property
    def pending(self) -> int:
        """Raw bytes received but not yet part of an emitted piece."""
        return self._filled

    @property
    def piece_count(self) -> int:
        return self.next_num

    @property
    def wrapped_length(self) -> int:
        """Wrapped bytes of the pieces emitted so far."""
        return (self.received - self._filled) + META_SIZE * self.next_num

    def real_md5(self) -> str:
        return self._hash.hexdigest()
