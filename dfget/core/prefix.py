"""Which written bytes the output's md5 takes next (docs/architecture.md#one-download, docs/decisions.md #4).

Pieces land in any order; an md5 takes bytes in file order. `InOrderHash` books each piece as it
is written and hands out the stretch that extends the hashed prefix, one at a time, to the thread
that hashes (dfget/downloaders/writer.py). A piece that lands ahead of the prefix is kept in memory
(its payload, an opaque object the caller owns again once it is handed back) while the bytes kept
stay within `budget`; beyond that only its place is booked and the hasher reads it back from the
file when the prefix reaches it. So in the common case every byte is hashed once, from memory,
and never read back.

Anything odd (a piece written twice, or inside the hashed prefix) makes the running md5
unusable: the caller then hashes the whole file, as decisions rule 4 requires.
"""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Stretch:
    """Bytes [offset, offset + length) of the file; `payload` holds them, or None: read them back."""

    offset: int
    length: int
    payload: Any = None

    @property
    def end(self) -> int:
        return self.offset + self.length


class InOrderHash:
    """The booking behind a running md5 of the contiguous written prefix of a file.

    `land` books a written piece and says which payloads the caller may reuse at once; `take`
    hands out the next stretch to hash (at most one is out at a time: md5 is sequential), `done`
    takes it back. `rest(size)` is what is left to read back at the end."""

    def __init__(self, budget: int):
        self.budget = budget
        self.hashed = 0  # the md5 covers [0, hashed)
        self.held = 0  # bytes of payloads kept in memory
        self.usable = True
        self._landed: dict[int, Stretch] = {}
        self._out: Stretch | None = None

    def land(self, offset: int, length: int, payload: Any = None) -> "list[Any]":
        """Book bytes [offset, offset + length) as written (`payload`: the same bytes in memory,
        or None). Returns the payloads the caller gets back now (this one, if it is not kept)."""
        if not self.usable or length <= 0:
            return [] if payload is None else [payload]
        covered = self.hashed if self._out is None else self._out.end
        if offset < covered or offset in self._landed:
            return self._give_up() + ([] if payload is None else [payload])
        keep = payload is not None and (offset == covered or self.held + length <= self.budget)
        if keep:
            self.held += length
        self._landed[offset] = Stretch(offset, length, payload if keep else None)
        return [] if keep or payload is None else [payload]

    def take(self) -> "Stretch | None":
        """The stretch that extends the prefix, if it has landed and none is out already."""
        if not self.usable or self._out is not None:
            return None
        stretch = self._landed.pop(self.hashed, None)
        if stretch is not None:
            self._out = stretch
            if stretch.payload is not None:
                self.held -= stretch.length
        return stretch

    def done(self, ok: bool) -> "list[Any]":
        """The stretch out was hashed (`ok`) or could not be (the file was shorter, a read failed).
        Returns the payloads the caller gets back."""
        stretch, self._out = self._out, None
        if stretch is None:
            return []
        freed = [] if stretch.payload is None else [stretch.payload]
        if not ok:
            return freed + self._give_up()
        self.hashed = stretch.end
        return freed

    @property
    def idle(self) -> bool:
        """Nothing is out and nothing that has landed extends the prefix: the md5 is as far as it gets."""
        return not self.usable or (self._out is None and self.hashed not in self._landed)

    def rest(self, size: int) -> "tuple[Stretch | None, list[Any]]":
        """At the end (call when idle): the stretch [hashed, size) to read back from the file
        (None if there is nothing to read), and the payloads the caller gets back. Unusable
        (the caller hashes the whole file) if the prefix went beyond `size`."""
        freed = [s.payload for s in self._landed.values() if s.payload is not None]
        self._landed.clear()
        self.held = 0
        if not self.usable or self._out is not None or self.hashed > size:
            self.usable = False
            return None, freed
        return (Stretch(self.hashed, size - self.hashed) if size > self.hashed else None), freed

    def drop(self) -> "list[Any]":
        """Forget everything (a new generation starts over): the payloads the caller gets back.
        A stretch that is out still comes back through `done`."""
        return self._give_up()

    def _give_up(self) -> "list[Any]":
        freed = [s.payload for s in self._landed.values() if s.payload is not None]
        self._landed.clear()
        self.held = 0
        self.usable = False
        return freed
