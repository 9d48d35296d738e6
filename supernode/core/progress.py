"""Progress bookkeeping (docs/architecture.md#scheduling-and-loads): who has what, who is fetching what from whom, and
loads.

Theory of operation. Per task: the CDN bitset, the set of peers holding each piece (never the
supernode, never a peer that does not upload), each piece's md5 (`md5:len`) and the supernode's
load. Per client (CID of one task): a bitset, the running map piece -> source PID, and the
sources that failed it per piece (docs/decisions.md #5). Per peer: producer load and error counts, and
the time its service went down. Black info: src PID -> {dst PID -> failures}.

For super-seeding (see the scheduler) the task also keeps when each piece last left the supernode
(`super_started`) and a moving average of how long a supernode piece takes to arrive
(`super_piece_seconds`), so that the scheduler can tell a piece that is merely on its way to a
peer from one whose fetch has stalled.

A reservation (scheduler assigns piece p from source s to client c) is recorded in c's running
map and adds one unit of load to s (a peer's producerLoad or the task's super load). The load is
released exactly once, when the piece leaves the running map: on any reported outcome (success,
semi-success or failure — docs/decisions.md #2: the supernode's load is released on failures too) or
when the client goes away.
"""

from dataclasses import dataclass, field

from common.protocol.codes import PieceStatus
from supernode.core.bitset import PieceBits

SUPER_DURATION_WEIGHT = 0.25  # weight of the newest sample in the moving average
METER_WINDOW = 20.0  # s of busy time a link meter remembers (older halves away)
METER_MIN_PIECES = 1.0  # pieces a meter must have seen before it gives a rate
BEST_RATE_HALF_LIFE = 10.0  # s: a task's best rate halves every this long without a new best
SLOW_SHARE = 0.5  # a peer below this share of the task's best rate is "slow"


@dataclass
class LinkMeter:
    """How fast a peer moves pieces one way: pieces moved over the time it had at least one
    transfer running that way. Concurrent transfers share the link, so this is the link's rate
    while busy, not one transfer's; it is a lower bound (the far ends may have been slower)."""

    active: int = 0
    since: float = 0.0
    busy: float = 0.0
    pieces: float = 0.0

    def start(self, now: float) -> None:
        if self.active == 0:
            self.since = now
        self.active += 1

    def stop(self, now: float, arrived: bool) -> None:
        if self.active <= 0:
            return
        self.active -= 1
        if self.active == 0:
            self.busy += max(now - self.since, 0.0)
        if arrived:
            self.pieces += 1
        if self.busy > METER_WINDOW:
            self.busy, self.pieces = self.busy / 2, self.pieces / 2

    def rate(self, now: float) -> "float | None":
        """Pieces per busy second, None before enough evidence."""
        busy = self._busy(now)
        if self.pieces < METER_MIN_PIECES or busy <= 0:
            return None
        return self.pieces / busy

    def ceiling(self, now: float) -> "float | None":
        """The rate if every running transfer finished right now: the most this link can be
        doing. It tells a slow link by its first transfer, before any piece has arrived."""
        busy, moved = self._busy(now), self.pieces + self.active
        if moved < METER_MIN_PIECES or busy <= 0:
            return None
        return moved / busy

    def _busy(self, now: float) -> float:
        return self.busy + (max(now - self.since, 0.0) if self.active else 0.0)


@dataclass
class BestRate:
    """The best rate read so far, halving every BEST_RATE_HALF_LIFE without a new best: a crowd
    whose fast peers have gone is not held to their pace for long."""

    rate: float = 0.0
    when: float = 0.0

    def note(self, rate: "float | None", now: float) -> None:
        if rate is not None and rate >= self.at(now):
            self.rate, self.when = rate, now

    def at(self, now: float) -> float:
        return self.rate * 0.5 ** (max(now - self.when, 0.0) / BEST_RATE_HALF_LIFE)  # type: ignore[no-any-return]  # float ** float is typed Any


@dataclass
class PeerState:
    producer_load: int = 0
    client_error_count: int = 0
    service_error_count: int = 0
    service_down_ms: int = 0  # 0 = alive
    uplink: LinkMeter = field(default_factory=LinkMeter)  # pieces it serves to peers
    downlink: LinkMeter = field(default_factory=LinkMeter)  # pieces it fetches (any source)

    @property
    def down(self) -> bool:
        return self.service_down_ms > 0


@dataclass
class ClientProgress:
    bits: PieceBits = field(default_factory=PieceBits)
    running: "dict[int, str]" = field(default_factory=dict)
    started: "dict[int, float]" = field(default_factory=dict)  # piece -> when it was reserved
    bad_sources: "dict[int, set[str]]" = field(default_factory=dict)
    streams: bool = False  # its upload server forwards a piece while it arrives (docs/decisions.md #25)
    streamed: "set[int]" = field(default_factory=set)  # running pieces it fetches from a peer that is fetching them


@dataclass
class TaskProgress:
    cdn: PieceBits = field(default_factory=PieceBits)
    holders: "dict[int, set[str]]" = field(default_factory=dict)
    piece_md5: "dict[int, str]" = field(default_factory=dict)
    in_flight: "dict[int, int]" = field(default_factory=dict)  # piece -> clients fetching it
    super_in_flight: "dict[int, int]" = field(default_factory=dict)  # ... of them from the supernode
    # piece -> {PID: since}: the streaming clients fetching it, each a possible source of it
    streamers: "dict[int, dict[str, float]]" = field(default_factory=dict)
    super_load: int = 0
    super_load_changed: float = 0.0
    super_started: "dict[int, float]" = field(default_factory=dict)  # piece -> latest supernode reservation
    super_piece_seconds: float = 0.0  # moving average of supernode piece fetches (0: none yet)
    # peer PID -> {piece: since}: pieces it got (or is getting) from the supernode that no other
    # peer has started to fetch from it yet — its "seed debt" (see the scheduler)
    unforwarded: "dict[str, dict[int, float]]" = field(default_factory=dict)
    # the fastest link rates seen among this task's peers: the yardsticks a "slow" peer is
    # measured against (see the scheduler)
    best_up: "BestRate" = field(default_factory=lambda: BestRate())
    best_down: "BestRate" = field(default_factory=lambda: BestRate())

    def seed_debt(self, pid: str, now: float, horizon: float) -> "tuple[int, float | None]":
        """(pieces `pid` still owes the crowd, seconds until the oldest of them stops counting).
        A piece nobody wanted from it for `horizon` seconds no longer counts."""
        owed = [since for since in self.unforwarded.get(pid, {}).values() if now - since < horizon]
        return len(owed), (min(owed) + horizon - now if owed else None)

    def stalled_super(self, now: float, stall: float) -> int:
        """Supernode fetches under way for longer than `stall`: a slow receiver is holding them,
        not the supernode's uplink, so they do not count against its fan-out."""
        return sum(1 for p in self.super_in_flight if now - self.super_started.get(p, now) >= stall)

    def record_super_duration(self, seconds: float) -> None:
        old = self.super_piece_seconds
        self.super_piece_seconds = seconds if old <= 0 else old + SUPER_DURATION_WEIGHT * (seconds - old)

    def set_super_load(self, value: int, now: float) -> None:
        self.super_load = max(value, 0)
        self.super_load_changed = now

    def count_flight(self, piece: int, from_super: bool, delta: int) -> None:
        tables = (self.in_flight, self.super_in_flight) if from_super else (self.in_flight,)
        for table in tables:
            left = table.get(piece, 0) + delta
            if left > 0:
                table[piece] = left
            else:
                table.pop(piece, None)

    def drop_holder(self, pid: str, piece: "int | None" = None) -> None:
        pieces = [piece] if piece is not None else list(self.holders)
        for p in pieces:
            self.holders.get(p, set()).discard(pid)


class Progress:
    def __init__(self, super_pid: str = ""):
        self.super_pid = super_pid
        self.tasks: dict[str, TaskProgress] = {}
        self.clients: dict[str, ClientProgress] = {}  # key: cid@taskId
        self.peers: dict[str, PeerState] = {}
        self.black: dict[str, dict[str, int]] = {}
        self.served: dict[tuple[str, str], int] = {}  # (source PID, client PID) -> pieces
        # the peers whose producer load reached `up_limit`, kept up to date once a limit is set:
        # the scheduler's long walks need this set, and building it from every peer on every
        # pull was a hot spot (issue 13)
        self.up_limit: int | None = None
        self.at_limit: set[str] = set()

    def track_up_limit(self, limit: int) -> None:
        self.up_limit = limit
        self.at_limit = {pid for pid, st in self.peers.items() if st.producer_load >= limit}

    def _load_changed(self, pid: str, state: PeerState) -> None:
        if self.up_limit is not None:
            if state.producer_load >= self.up_limit:
                self.at_limit.add(pid)
            else:
                self.at_limit.discard(pid)

    def is_super(self, pid: str) -> bool:
        return bool(pid) and pid == self.super_pid

    # ---- reservations ---------------------------------------------------------------------

    def reserve(
        self,
        task_id: str,
        client: ClientProgress,
        piece: int,
        source: str,
        now: float,
        client_pid: str = "",
        streamed: bool = False,
    ) -> None:
        """`streamed`: `source` is itself still fetching the piece (cut-through). Both link meters
        count it like any transfer: a meter reads a link's rate while busy, and left out, the
        transfers sharing the link with it read as a slow link (a whole homogeneous crowd read
        as slow and the supernode held its fresh pieces back)."""
        client.running[piece] = source
        client.started[piece] = now
        client.bits.update(piece, PieceStatus.RUNNING)
        tp = self.tasks.get(task_id)
        if tp is not None:
            tp.count_flight(piece, self.is_super(source), +1)
            if client.streams and client_pid:
                tp.streamers.setdefault(piece, {})[client_pid] = now
        if streamed:
            client.streamed.add(piece)
        if self.is_super(source) and tp is not None:
            tp.super_started[piece] = now
            tp.set_super_load(tp.super_load + 1, now)
            if client_pid:
                tp.unforwarded.setdefault(client_pid, {})[piece] = now
        elif source in self.peers:
            if tp is not None and not streamed:
                # forwarding has started; a streamed copy settles the debt only once it arrives:
                # it starts as soon as the piece does, and its source would otherwise take fresh
                # piece after fresh piece while its one uplink fed them all (docs/decisions.md #25)
                tp.unforwarded.get(source, {}).pop(piece, None)
            self.peers[source].producer_load += 1
            self._load_changed(source, self.peers[source])
            self.peers[source].uplink.start(now)
        if client_pid in self.peers:
            self.peers[client_pid].downlink.start(now)

    def release(
        self, task_id: str, client: ClientProgress, piece: int, now: float, arrived: bool = False, client_pid: str = ""
    ) -> "str | None":
        """Take `piece` out of the running map and give its source's load back; the source.
        `arrived`: the client reported the piece as received (its duration is a sample)."""
        source = client.running.pop(piece, None)
        started = client.started.pop(piece, now)
        if source is None:
            return None
        streamed = piece in client.streamed
        client.streamed.discard(piece)
        tp = self.tasks.get(task_id)
        if tp is not None:
            tp.count_flight(piece, self.is_super(source), -1)
            fetchers = tp.streamers.get(piece)
            if fetchers is not None:
                fetchers.pop(client_pid, None)
                if not fetchers:
                    del tp.streamers[piece]
        if self.is_super(source) and tp is not None:
            tp.set_super_load(tp.super_load - 1, now)
            if arrived:
                tp.record_super_duration(max(now - started, 0.0))
            else:
                tp.unforwarded.get(client_pid, {}).pop(piece, None)
            if piece not in tp.super_in_flight:
                tp.super_started.pop(piece, None)
        if tp is not None and arrived and streamed:
            tp.unforwarded.get(source, {}).pop(piece, None)  # a streamed forward arrived
        up = down = None
        if source in self.peers and not self.is_super(source):
            state = self.peers[source]
            state.producer_load = max(state.producer_load - 1, 0)
            self._load_changed(source, state)
            state.uplink.stop(now, arrived)
            up = state.uplink.rate(now)
        if client_pid in self.peers:
            meter = self.peers[client_pid].downlink
            meter.stop(now, arrived)
            down = meter.rate(now)
        if tp is not None and arrived:
            tp.best_up.note(up, now)
            tp.best_down.note(down, now)
        return source

    def release_all(self, task_id: str, client: ClientProgress, now: float, client_pid: str = "") -> None:
        for piece in list(client.running):
            self.release(task_id, client, piece, now, client_pid=client_pid)

    # ---- outcomes -------------------------------------------------------------------------

    def record_outcome(
        self,
        task_id: str,
        client_key: str,
        src_pid: str,
        dst_pid: str,
        piece: int,
        status: PieceStatus,
        now: float,
        src_uploads: bool = True,
    ) -> "tuple[bool, bool]":
        """§5 UpdateProgress for a reported outcome; returns (bitset changed, load released).

        A piece that failed on its way from a peer that was itself still fetching it counts
        against nobody: its upstream may have failed (the cut stream is all the client sees), and
        the source is avoided for that piece anyway (`bad_sources`). So one failing fetch does
        not black-list a chain of hosts (docs/decisions.md #25)."""
        tp, client = self.tasks[task_id], self.clients[client_key]
        streamed = piece in client.streamed
        if status is PieceStatus.SUCCESS and src_uploads and src_pid and not self.is_super(src_pid):
            tp.holders.setdefault(piece, set()).add(src_pid)
        reserved = self.release(
            task_id,
            client,
            piece,
            now,
            client_pid=src_pid,
            arrived=status in (PieceStatus.SUCCESS, PieceStatus.SEMISUC),
        )
        dst_pid = dst_pid or reserved or ""
        if not client.bits.update(piece, status):
            return False, reserved is not None
        if status is PieceStatus.FAILED and dst_pid:
            client.bad_sources.setdefault(piece, set()).add(dst_pid)
        if status in (PieceStatus.SUCCESS, PieceStatus.SEMISUC) and dst_pid:
            self.served[(dst_pid, src_pid)] = self.served.get((dst_pid, src_pid), 0) + 1
        between_peers = src_pid and dst_pid and not self.is_super(src_pid) and not self.is_super(dst_pid)
        if between_peers and not (streamed and status is PieceStatus.FAILED):
            self._count_errors(src_pid, dst_pid, status)
        return True, reserved is not None

    def _count_errors(self, src_pid: str, dst_pid: str, status: PieceStatus) -> None:
        src, dst = self.peers.get(src_pid), self.peers.get(dst_pid)
        if status in (PieceStatus.SUCCESS, PieceStatus.SEMISUC):
            if src:
                src.client_error_count = 0
            if dst:
                dst.service_error_count = 0
        elif status is PieceStatus.FAILED:
            per_src = self.black.setdefault(src_pid, {})
            per_src[dst_pid] = per_src.get(dst_pid, 0) + 1
            if src:
                src.client_error_count += 1
            if dst:
                dst.service_error_count += 1

    # ---- forgetting -----------------------------------------------------------------------

    def forget_client(self, task_id: str, client_key: str, now: float, client_pid: str = "") -> None:
        client = self.clients.pop(client_key, None)
        if client is not None:
            self.release_all(task_id, client, now, client_pid)
        tp = self.tasks.get(task_id)
        if tp is not None and client_pid:
            tp.unforwarded.pop(client_pid, None)

    def forget_task(self, task_id: str) -> None:
        self.tasks.pop(task_id, None)

    def forget_peer(self, pid: str) -> None:
        self.peers.pop(pid, None)
        self.at_limit.discard(pid)
        self.black.pop(pid, None)
        for per_src in self.black.values():
            per_src.pop(pid, None)
        for tp in self.tasks.values():
            tp.drop_holder(pid)
        for key in [k for k in self.served if pid in k]:
            del self.served[key]


def is_slow(meter: "LinkMeter | None", best: BestRate, now: float) -> bool:
    """The meter reads less than SLOW_SHARE of the task's best rate; unknown is not slow."""
    if meter is None:
        return False
    rate, yardstick = meter.ceiling(now), best.at(now)
    return rate is not None and yardstick > 0 and rate < SLOW_SHARE * yardstick
