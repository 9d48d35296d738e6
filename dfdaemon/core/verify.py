"""Checking a layer against the digest in its URL while it streams (pure).

The blob is fed from its first byte, in order. The bytes of the requested slice are released as
they come, except the slice's last byte: it is held back until the whole blob has been hashed
and matched the expected digest. A response whose last byte never leaves is visibly broken to
the client (short body / no final chunk), so bad bytes are never presented as complete.
"""

import hashlib

from common.errors import DragonflyError


class DigestMismatch(DragonflyError):
    """The bytes do not hash to the digest the URL names (a peer's or the source's fault)."""


class VerifiedSlice:
    def __init__(self, digest: str = "", first: int = 0, last: int | None = None):
        algo, _, hexd = digest.partition(":")
        self.expected = hexd.lower() if digest else ""
        self._hash = hashlib.new(algo) if digest else None
        self.first, self.last = first, last
        self.position = 0  # bytes of the blob fed so far
        self._held = b""

    @property
    def checking(self) -> bool:
        return self._hash is not None

    def feed(self, chunk: bytes) -> bytes:
        """Feed the next bytes of the blob; returns the slice bytes that may be sent now."""
        start = self.position
        self.position += len(chunk)
        if self._hash is not None:
            self._hash.update(chunk)
        lo = max(self.first - start, 0)
        hi = len(chunk) if self.last is None else min(self.last + 1 - start, len(chunk))
        out = self._held + (chunk[lo:hi] if hi > lo else b"")
        if self._hash is None or not out:
            self._held = b""
            return out
        self._held = out[-1:]
        return out[:-1]

    def done_with_slice(self) -> bool:
        return self.last is not None and self.position > self.last

    def finish(self) -> bytes:
        """At the end of the blob: verify, then release the held byte (or raise DigestMismatch)."""
        if self._hash is not None:
            real = self._hash.hexdigest()
            if real != self.expected:
                raise DigestMismatch(
                    f"layer digest mismatch: expected {self.expected}, got {real} over {self.position} bytes"
                )
        held, self._held = self._held, b""
        return held
