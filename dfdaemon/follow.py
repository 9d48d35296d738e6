"""How much of a file that dfget is still writing can be read: its contiguous written prefix.

dfget writes pieces at their offsets, out of order, into `<home>/data/<taskFileName>.service`
(sequentially when it downloads from the source). A piece not yet written is a *hole* in the
sparse file, and `lseek(SEEK_HOLE)` finds the first one. The filesystem tracks holes in blocks,
so the block holding the first unwritten byte may already be partly data: when the first hole
is before the end of the file we trust only up to one allocation unit (`MARGIN`) before it. A
missing piece is at least 1 MiB, so it always contains a whole hole block.

`holes_supported(dir)` checks that the filesystem reports holes at all; where it does not
(every byte looks like data) streaming is switched off and a layer is served once dfget is done.
Cut-through (docs/decisions.md #25): dfget writes a piece into the service file as it arrives
and checks its md5 only when it is complete, so bytes of a piece in flight (or of one whose
attempt failed) are data but not yet right. While the flight file beside the service file
exists, the prefix stops at the first such piece. Once it is gone the download is over (the
service file no longer grows): the prefix stays where it was last seen.

Whatever this module gets wrong, the digest check of the served stream catches.
"""

import os
import tempfile

from common.dfget_files import flight_file_of
from common.flight import first_unsettled
from common.shell.flight import read_flights

MARGIN = 64 * 1024
PROBE_OFFSET = 4 * 1024 * 1024


def holes_supported(directory: str) -> bool:
    try:
        fd, path = tempfile.mkstemp(prefix=".holeprobe-", dir=directory)
    except OSError:
        return False
    try:
        os.pwrite(fd, b"x", PROBE_OFFSET)
        return os.lseek(fd, 0, os.SEEK_HOLE) < PROBE_OFFSET
    except OSError:
        return False
    finally:
        os.close(fd)
        os.remove(path)


class GrowingFile:
    """An open file being written by another process; `sequential` files never have holes."""

    def __init__(self, path: str, sequential: bool = False):
        self.path = path
        self.sequential = sequential
        self.fd = os.open(path, os.O_RDONLY)
        self._flight = None if sequential else flight_file_of(path)
        self._settled: int | None = None  # the prefix last capped by the flight file

    def contiguous(self) -> int:
        written = self._written_prefix()
        if self._flight is None:
            return written
        # After the holes were looked at: a piece that began since is capped below, and one
        # that began before is in the flight file already (its record is opened before its bytes).
        try:
            flights = read_flights(self._flight)
        except OSError:  # unreadable: nothing is known to be settled past what was seen before
            return 0 if self._settled is None else min(written, self._settled)
        if flights is None:  # no flight file: none yet (nothing in flight), or the download ended
            return written if self._settled is None else min(written, self._settled)
        first = first_unsettled(flights)
        self._settled = written if first is None else min(written, first)
        return self._settled

    def _written_prefix(self) -> int:
        size = os.fstat(self.fd).st_size
        if self.sequential or size == 0:
            return size
        try:
            hole = os.lseek(self.fd, 0, os.SEEK_HOLE)
        except OSError:
            return 0
        return size if hole >= size else max(0, hole - MARGIN)

    def read(self, offset: int, n: int) -> bytes:
        return os.pread(self.fd, n, offset)

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass
