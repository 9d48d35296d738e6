"""Piece bookkeeping of the pull loop (docs/architecture.md#a-pull-get-peertask, docs/decisions.md #1, #5).

Theory of operation. The pull loop talks to the supernode with *reports*: each GET /peer/task
carries the outcome of one piece (or the START report) and is answered with piece assignments
(601), "wait" (602) or "finished" (600). The book records which wrapped ranges are running,
which are done, and which sources failed which piece; it turns assignments into fetch decisions
and fetch outcomes into the next reports.

* An assignment of a range that is already done is not fetched again: it is re-reported as
  SEMISUC so that the supernode catches up (after a migration, say).
* An assignment of a range from a source that already failed that range is refused (docs/decisions.md #5):
  nothing is fetched and the failure is reported again (result 500) so the supernode schedules
  another source. A peer is ruled out for a range on any failure (the supernode can replace it);
  the supernode's CDN only when it sent corrupt bytes: it is the source of last resort, and a
  timeout or a dropped connection from it (a busy uplink in a flash crowd) is worth a retry. A range refused more than
`max_refusals` times is *stuck*: the P2P attempt
  should give up (and go back to the source) rather than spin until the timeout.
* Reports are merged like v1: a SEMISUC from a fresh download is dropped when more reports are
  queued or more than two pieces are still running (the supernode learns of the piece from
  /peer/piece/suc anyway — unless that call failed, and then the SEMISUC is kept). Failures,
  START and re-reports are always sent.
"""

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from common.protocol.codes import PieceResult, TaskStatus
from common.protocol.messages import PieceTask, is_supernode_cid

MERGE_RUNNING_LIMIT = 2
MAX_REFUSALS = 3


@dataclass(frozen=True)
class Report:
    """One item for GET /peer/task."""

    status: TaskStatus
    result: PieceResult
    range: str = ""
    dst_cid: str = ""
    droppable: bool = False

    @property
    def hard(self) -> bool:
        return self.result in (PieceResult.SUCCESS, PieceResult.FAIL, PieceResult.INVALID)


START = Report(TaskStatus.START, PieceResult.INVALID)
# "Anything more for me?" with pieces still running: no outcome to report (our supernode only)
ASK = Report(TaskStatus.RUNNING, PieceResult.INVALID)


def semisuc(range_: str, dst_cid: str, droppable: bool = True) -> Report:
    return Report(TaskStatus.RUNNING, PieceResult.SEMISUC, range_, dst_cid, droppable)


def fail(range_: str, dst_cid: str) -> Report:
    return Report(TaskStatus.RUNNING, PieceResult.FAIL, range_, dst_cid)


class PieceBook:
    def __init__(self, max_refusals: int = MAX_REFUSALS) -> None:
        self.max_refusals = max_refusals
        self.reset()

    def reset(self) -> None:
        """Forget everything (a migration changed the piece size): start over."""
        self.running: dict[str, str] = {}  # range -> source cid
        self.done: dict[str, int] = {}  # range -> piece number
        self.failed_from: dict[str, set[str]] = {}
        self.refusals: dict[str, int] = {}
        self._reports: deque[Report] = deque([START])

    # -- assignments -> fetch decisions ----------------------------------------------------

    def plan(self, tasks: Iterable[PieceTask]) -> "list[PieceTask]":
        """The assignments to fetch now; the rest become reports. Marks fetched ones running."""
        fetch = []
        for t in tasks:
            if t.range in self.done:
                self._reports.append(semisuc(t.range, t.cid, droppable=False))
            elif t.range in self.running:
                continue
            elif t.cid in self.failed_from.get(t.range, ()):
                self.refusals[t.range] = self.refusals.get(t.range, 0) + 1
                self._reports.append(fail(t.range, t.cid))
            else:
                self.running[t.range] = t.cid
                fetch.append(t)
        return fetch

    def stuck(self) -> str | None:
        """A range no acceptable source is offered for, if any."""
        for r, n in self.refusals.items():
            if n > self.max_refusals and r not in self.done:
                return r
        return None

    # -- fetch outcomes -> reports -----------------------------------------------------------

    def succeeded(self, range_: str, piece_num: int, dst_cid: str, acked: bool = True) -> None:
        """`acked`: the supernode acknowledged /peer/piece/suc. If it did not, this report is its
        only news of the piece and must not be merged away, or the supernode keeps the piece
        running for us and never schedules the rest (a wait that lasts until the timeout)."""
        self.running.pop(range_, None)
        self.done[range_] = piece_num
        self._reports.append(semisuc(range_, dst_cid, droppable=acked))

    def failed(self, range_: str, dst_cid: str, corrupt: bool = False) -> None:
        self.running.pop(range_, None)
        if corrupt or not is_supernode_cid(dst_cid):
            self.failed_from.setdefault(range_, set()).add(dst_cid)
        self._reports.append(fail(range_, dst_cid))

    def next_report(self) -> Report | None:
        """The report to send now, or None: wait for a fetch to finish first."""
        while self._reports:
            r = self._reports.popleft()
            if r.droppable and (self._reports or len(self.running) > MERGE_RUNNING_LIMIT):
                continue
            return r
        return None

    def restart(self) -> None:
        """After a migration: keep what is done, report from START to the new supernode.

        Failed sources are forgotten too: the new supernode session has its own sources, and the
        same CID may now name a different process (a supernode restarted in place keeps its CDN's
        CID, and a piece that failed while it was down would otherwise be refused for good)."""
        self._reports = deque([START])
        self.failed_from.clear()
        self.refusals.clear()
