"""Schedule (docs/architecture.md#scheduling-and-loads): which missing pieces a client fetches next, and from whom.
Pure: it reads
the progress and returns a Plan; the coordinator applies it.

1. available = pieces SUCCESS on the CDN, not SUCCESS for the client, not running for it.
   None -> wait (602). The client already runs `peer_down_limit` pieces -> limited (601, no data).
2. Order: rarest first, then nearest to the centre (integer mean) of the client's running
   pieces, then random (injected rng). Unlike v1, rarity counts the clients already fetching a
   piece as well as its holders (BitTorrent's pieces-in-flight): in a flash crowd every client
   would otherwise start on the same zero-holder pieces and all of them would come from the
   supernode; counting flights spreads the first pieces so that peers can trade them at once.
3. Self-isolation: a client with clientErrorCount > failureCountLimit fetches only from the
   supernode.
4. Otherwise walk the piece's holders in random order and take the first that may serve:
   unknown / unservable (no record, port 0, no download of this task) / service-down /
   serviceErrorCount >= eliminationLimit holders are dropped from the holder set; a holder that
   is the client itself, in the client's black list, failed this piece for this client before
   (docs/decisions.md #5) or would exceed peerUpLimit is skipped. Load is reserved as we go.
   No holder can serve it now, and the client streams -> a streaming client that is fetching the
   piece may forward it while it arrives (cut-through, docs/decisions.md #25): the one with the
   fewest uploads, not stalled, under the same rules as a holder. This comes before waiting for
   a holder's free slot or for a copy on its way from the supernode.
5. Nobody can serve it now -> super-seeding (the supernode's upload is the scarce resource of a
   flash crowd: every extra copy it sends adds a piece time to the crowd's end):
   * a piece no peer holds and none is fetching from the supernode ("fresh") -> the supernode,
     within its own per-task limit (docs/decisions.md #2; a stalled fetch does not count: a slow
     receiver holds it, not the supernode's uplink); full -> skip the piece. Fresh pieces are spread
     over the crowd: a client that still owes the crowd a piece it got from the supernode (nobody
     has started to fetch it from the client yet: its "seed debt") gets no other fresh piece while
     others download the task too. Otherwise one host would receive most of the file from the
     supernode and its single uplink would have to feed everyone (seen in the lab: 11 of 17
     pieces went to one of 8 hosts). A debt older than the stall time no longer counts, and debt
     never leaves the supernode idle: with none of the task's pieces on their way from it, the
     fresh piece goes to whoever asks. The rule needs a crowd (another client still downloading)
     and a client that can forward: one that never uploads (port 0, `pattern: cdn`) can never pay
     its debt, and holding it back helped nobody (a 20-piece file took 20 s instead of 0.4 s).
     A slow client (docs/decisions.md #24) gets no fresh piece while others download the task:
     everyone else would have to fetch it over its slow uplink. That rule too never leaves the
     supernode idle: when every client asking is slow (e.g. all of them measured against a
     rate one of them reached in a burst), the fresh piece goes to whoever asks;
   * a piece some holder could give this client once it has a free upload slot -> wait for it;
   * a piece on its way from the supernode to another client -> wait for that copy, unless the
     fetch has stalled: it took longer than STALL_FACTOR x the task's average supernode piece time
     (or STALL_DEFAULT before any piece arrived). Then a second copy goes out, and the plan says
     when a stalled fetch would next justify one (`recheck_after`) so that a held long-poll can
     look again then;
   * a piece whose holders this client cannot use (black-listed, failed it before) -> the
     supernode, like a fresh one.
   A v1 client that gets 602 backs off and asks again: it still makes progress.
6. Stop when the client would run `peer_down_limit` pieces.
7. A streaming client in a crowd that is fetching a piece from the supernode (not stalled) heads
   that piece's chain and is given nothing else meanwhile (wait, with `recheck_after` when that
   fetch would stall): its downlink carries the supernode's piece at full rate.
"""

import enum
from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass
from typing import Protocol

from supernode.core.model import Limits
from supernode.core.progress import ClientProgress, PeerState, TaskProgress, is_slow


class Rng(Protocol):
    """What the scheduler asks of its injected random.Random (the core may not import random)."""

    def random(self) -> float: ...

    def randrange(self, stop: int) -> int: ...


@dataclass(frozen=True)
class Assignment:
    piece: int
    source: str  # a peer ID, or the supernode's own peer ID
    streamed: bool = False  # the source is still fetching the piece itself (docs/decisions.md #25)


@dataclass(frozen=True)
class Plan:
    assignments: "tuple[Assignment, ...]" = ()
    drops: "tuple[tuple[int, str], ...]" = ()  # (piece, holder PID) to forget
    limited: bool = False
    recheck_after: "float | None" = None  # seconds until a stalled fetch would change the plan
    held_back: str = ""  # why a fresh piece was not handed out ("slow", "debt"), for the debug log

    @property
    def wait(self) -> bool:
        return not self.assignments and not self.limited


@dataclass(frozen=True)
class View:
    """What the scheduler may look at, for one client of one task."""

    task: TaskProgress
    client: ClientProgress
    peers: "Mapping[str, PeerState]"
    black: "Mapping[str, int]"  # the client's black list: dst PID -> failures
    servable: "Callable[[str], bool]"  # has a peer record, uploads, downloads this task
    src_pid: str
    super_pid: str
    now: float = 0.0
    crowd: int = 1  # clients still downloading the task (this one included),
    # counted up to CROWD_SEEN: only "is there a crowd" is asked
    at_limit: "Set[str] | None" = None  # the peers at peer_up_limit, if kept (None: scan all)


STALL_FACTOR = 3.0  # a supernode fetch this many times slower than the average has stalled
STALL_DEFAULT = 20.0  # s: before any supernode piece arrived, a fetch has stalled after this
STALL_FLOOR = 1.0  # s: never call a fetch stalled sooner
SEED_DEBT_LIMIT = 1  # fresh pieces a client may owe the crowd at once
CONGESTED_PIECE_TIMES = 5.0  # a client with a piece running this many best piece times is slow


CROWD_SEEN = 2  # View.crowd need not count further: a crowd is "more than one client"

_LONG_WALK = 16
_NONE: "frozenset[str]" = frozenset()


def available_pieces(task: TaskProgress, client: ClientProgress) -> "set[int]":
    available = task.cdn.successes_missing_from(client.bits)
    available.difference_update(client.running)
    return available


def order_pieces(
    pieces: Iterable[int],
    holders: "Mapping[int, Set[str]]",
    running: Iterable[int],
    rng: Rng,
    in_flight: "Mapping[int, int] | None" = None,
) -> "list[int]":
    running = list(running)
    center = sum(running) // len(running) if running else 0
    in_flight = in_flight or {}
    # one float per piece (cheaper than a tuple; this runs over every missing piece on every pull):
    # rarity * 2**20 + distance + a random fraction orders by rarity, then distance, then at random
    hget, fget, rnd = holders.get, in_flight.get, rng.random
    keys = {p: (len(hget(p, ())) + fget(p, 0)) * 1048576.0 + abs(p - center) + rnd() for p in sorted(pieces)}
    return sorted(keys, key=keys.__getitem__)


def isolated(view: View, limits: Limits) -> bool:
    state = view.peers.get(view.src_pid)
    return state is not None and state.client_error_count > limits.failure_count_limit


def stall_seconds(task: TaskProgress) -> float:
    """How long a supernode piece may be on its way before a second copy is justified."""
    if task.super_piece_seconds <= 0:
        return STALL_DEFAULT
    return max(STALL_FACTOR * task.super_piece_seconds, STALL_FLOOR)


def plan(view: View, limits: Limits, rng: Rng) -> Plan:
    available = available_pieces(view.task, view.client)
    if not available:
        return Plan()
    if len(view.client.running) >= limits.peer_down_limit:
        return Plan(limited=True)
    alone = isolated(view, limits)
    stall = stall_seconds(view.task)
    if view.client.streams and view.crowd >= CROWD_SEEN:
        heading = _heads_a_chain(view, stall)
        if heading is not None:
            return Plan(recheck_after=heading)
    extra: dict[str, int] = {}
    drops: list[tuple[int, str]] = []
    picks: list[Assignment] = []
    verdicts: dict[str, Verdict] = {}
    busy = None
    super_load = view.task.super_load - view.task.stalled_super(view.now, stall)
    recheck: float | None = None
    held_back = ""
    debt, expiry, seeded = None, None, 0
    crowded = not alone and view.crowd >= CROWD_SEEN
    spreads = crowded and view.servable(view.src_pid)  # the seed-debt rule applies
    slow_client = crowded and _slow_client(view)
    # the walk visits most missing pieces when the answer is a wait: the tables it reads are bound
    # once (no drop is applied before the plan returns, so a piece's holder set is fixed meanwhile)
    task, fanout, down_limit = view.task, limits.supernode_task_upload_limit, limits.peer_down_limit
    holders_of, super_in_flight, running = task.holders.get, task.super_in_flight, len(view.client.running)
    streamers = task.streamers
    # pieces all of whose holders are at their upload limit wait, without a look at each holder:
    # from the first piece when nothing excludes a holder for this client alone (a black list, a
    # piece it failed: those holders may send it to the supernode instead); otherwise from the
    # _LONG_WALK-th piece, where a 602 is likely anyway. Whether the progress keeps the set of
    # busy peers or it is scanned for (_busy_peers), the plan is the same
    shortcut_from = 0 if not view.black and not view.client.bad_sources else _LONG_WALK
    for walked, piece in enumerate(order_pieces(available, task.holders, view.client.running, rng, task.in_flight)):
        if walked == shortcut_from and not alone:
            busy = _busy_peers(view, limits)
        held = holders_of(piece)
        streamed = not alone and view.client.streams and piece in streamers
        if super_load >= fanout and not held and not streamed and (alone or not super_in_flight.get(piece)):
            continue  # the branches below would skip it too, with no side effect (a shortcut only)
        if alone:
            source, usable = None, False
        elif busy is not None and held and held <= busy and not streamed:
            continue
        else:
            source, usable = _pick_holder(view, piece, limits, extra, drops, rng, verdicts, slow_client)
        if source is None and streamed:
            source = _pick_streamer(view, piece, limits, extra, rng, verdicts, slow_client, stall)
            if source is not None:
                picks.append(Assignment(piece, source, streamed=True))
                if running + len(picks) >= down_limit:
                    break
                continue
        if source is None:
            if usable:
                continue  # a holder will have a free slot soon: wait for it
            if not alone and super_in_flight.get(piece):
                left = task.super_started.get(piece, view.now) + stall - view.now
                if left > 0:  # on its way to a peer: wait for that copy
                    recheck = left if recheck is None else min(recheck, left)
                    continue
            if super_load >= fanout:
                continue
            if slow_client and not held and super_load > 0:
                held_back = "slow"
                continue  # fresh pieces go to fast hosts: a slow one would feed the crowd slowly
            if spreads and not held:
                if debt is None:
                    debt, expiry = task.seed_debt(view.src_pid, view.now, stall)
                if debt + seeded >= SEED_DEBT_LIMIT and super_load > 0:
                    if expiry is not None:
                        recheck = expiry if recheck is None else min(recheck, expiry)
                    held_back = "debt"
                    continue  # another client takes this fresh piece: we forward ours first
                seeded += 1
            super_load += 1
            source = view.super_pid
        picks.append(Assignment(piece, source))
        if running + len(picks) >= down_limit:
            break
    return Plan(tuple(picks), tuple(drops), recheck_after=None if picks else recheck, held_back=held_back)


def _heads_a_chain(view: View, stall: float) -> "float | None":
    """Seconds until the client's supernode fetch stalls, if it has one under way: then it heads
    that piece's chain and takes nothing else meanwhile. Its downlink then carries the supernode's
    piece at full rate; shared with the 3 other chains it was in, the supernode's pieces went out
    at a fraction of its uplink (busy 65-70 % of a lab crowd), while the others left idle waited."""
    super_pid, now, left = view.super_pid, view.now, None
    for piece, source in view.client.running.items():
        if source == super_pid:
            remaining = view.client.started.get(piece, now) + stall - now
            if remaining > 0:
                left = remaining if left is None else min(left, remaining)
    return left


def _busy_peers(view: View, limits: Limits) -> "Set[str]":
    """The peers at their upload limit: kept by the progress when it can (an O(peers) scan per
    pull was a hot spot); only read here."""
    if view.at_limit is not None:
        return view.at_limit
    return {pid for pid, st in view.peers.items() if st.producer_load >= limits.peer_up_limit}


class Verdict(enum.Enum):
    """What a holder is to the client being planned for."""

    DROP = "drop"  # can never serve this task again: forget it as a holder
    SKIP = "skip"  # may serve others, never this client
    OK = "ok"


def _slow_client(view: View) -> bool:
    """Slow by its downlink meter, or congested: one of its pieces has been running for longer
    than CONGESTED_PIECE_TIMES piece times at the task's best rate (a slow link with several
    transfers under way has finished none of them yet, so the meter alone tells it late). A piece
    it streams from a fetcher does not count: it runs as long as that fetcher's own download."""
    state = view.peers.get(view.src_pid)
    if is_slow(state.downlink if state else None, view.task.best_down, view.now):
        return True
    best, client = view.task.best_down.at(view.now), view.client
    if best <= 0:
        return False
    oldest = min((t for p, t in client.started.items() if p not in client.streamed), default=None)
    return oldest is not None and view.now - oldest > CONGESTED_PIECE_TIMES / best


def _pick_holder(
    view: View,
    piece: int,
    limits: Limits,
    extra: "dict[str, int]",
    drops: "list[tuple[int, str]]",
    rng: Rng,
    verdicts: "dict[str, Verdict]",
    slow_client: bool = False,
) -> "tuple[str | None, bool]":
    """(a holder chosen uniformly at random among those that may serve now, whether some holder
    could serve this client once it has a free upload slot).

    The holders are drawn lazily in random order (a partial Fisher-Yates over the set's order,
    v1's "map order, effectively random") and verdicts are cached for the whole plan: sorting and
    shuffling every holder set on every pull was a hot spot once holders number in the hundreds.

    A client that is not slow itself takes a slow holder (docs/decisions.md #24) only when no
    other holder could serve it, now or once it has a free slot: a fast host must not spend a
    piece time four times over on a quarter-speed uplink while a fast copy exists."""
    holders = view.task.holders.get(piece)
    if not holders:
        return None, False
    bad = view.client.bad_sources.get(piece, ())
    peers, up_limit = view.peers, limits.peer_up_limit
    if _all_at_limit(view, holders, up_limit):
        # nobody can be chosen, whatever the order: the same outcome without a random draw per
        # holder (those draws were half the worker when most holders are busy, issue 13)
        usable = False
        for pid in holders:
            verdict = verdicts.get(pid)
            if verdict is None:
                verdict = verdicts[pid] = _holder_verdict(view, pid, limits)
            if verdict is Verdict.DROP:
                drops.append((piece, pid))
            elif verdict is Verdict.OK and pid not in bad:
                usable = True
        return None, usable
    order = list(holders)
    n = len(order)
    usable = False
    fallback = None
    while n:
        i = rng.randrange(n) if n > 1 else 0
        pid = order[i]
        n -= 1
        order[i] = order[n]
        verdict = verdicts.get(pid)
        if verdict is None:
            verdict = verdicts[pid] = _holder_verdict(view, pid, limits)
        if verdict is Verdict.DROP:
            drops.append((piece, pid))
            continue
        if verdict is Verdict.SKIP or pid in bad:
            continue
        if peers[pid].producer_load + extra.get(pid, 0) + 1 > up_limit:
            usable = True
            continue
        if not slow_client and is_slow(peers[pid].uplink, view.task.best_up, view.now):
            fallback = fallback or pid
            continue
        extra[pid] = extra.get(pid, 0) + 1
        return pid, True
    if fallback is not None and not usable:
        if view.task.in_flight.get(piece):
            return None, True  # someone is already fetching it: wait for that (faster) copy
        extra[fallback] = extra.get(fallback, 0) + 1
        return fallback, True
    return None, usable


def _pick_streamer(
    view: View,
    piece: int,
    limits: Limits,
    extra: "dict[str, int]",
    rng: Rng,
    verdicts: "dict[str, Verdict]",
    slow_client: bool,
    stall: float,
) -> "str | None":
    """A streaming client that is fetching `piece` and may forward it to this one while it
    arrives (docs/decisions.md #25), or None. Asked only when no holder can serve the piece now.
    Among those that may, the one with the fewest uploads under way: a piece then flows down a
    chain, each host's uplink carrying it once, rather than from one host to many at a fraction
    of its uplink each. A fetch running longer than the stall time is no source: whatever holds
    it up would hold up the copy too."""
    fetchers = view.task.streamers.get(piece)
    if not fetchers:
        return None
    bad = view.client.bad_sources.get(piece, ())
    peers, up_limit, now = view.peers, limits.peer_up_limit, view.now
    best, best_key = None, (up_limit, 0.0)
    for pid, since in fetchers.items():
        if now - since >= stall or pid in bad:
            continue
        verdict = verdicts.get(pid)
        if verdict is None:
            verdict = verdicts[pid] = _holder_verdict(view, pid, limits)
        if verdict is not Verdict.OK:
            continue
        load = peers[pid].producer_load + extra.get(pid, 0)
        if load + 1 > up_limit:
            continue
        if not slow_client and _slow_link(view, peers[pid]):
            continue  # the piece reaches it slowly, or leaves it slowly: a fast client waits
        key = (load, rng.random())
        if key < best_key:
            best, best_key = pid, key
    if best is not None:
        extra[best] = extra.get(best, 0) + 1
    return best


def _slow_link(view: View, state: PeerState) -> bool:
    """Either of a fetcher's links is slow: what it forwards while it arrives can go no faster
    than its own download of it (a slow host mid-chain held every fast host after it to its pace:
    5.7x their own F/d in the lab's mixed crowd)."""
    task, now = view.task, view.now
    return is_slow(state.uplink, task.best_up, now) or is_slow(state.downlink, task.best_down, now)


def _all_at_limit(view: View, holders: "set[str]", up_limit: int) -> bool:
    if view.at_limit is not None:
        return holders <= view.at_limit
    peers = view.peers
    return all(pid in peers and peers[pid].producer_load >= up_limit for pid in holders)


def _holder_verdict(view: View, pid: str, limits: Limits) -> Verdict:
    state = view.peers.get(pid)
    if state is None or pid == view.super_pid or not view.servable(pid):
        return Verdict.DROP
    if state.down or state.service_error_count >= limits.elimination_limit:
        return Verdict.DROP
    if pid == view.src_pid or view.black.get(pid, 0) > 0:
        return Verdict.SKIP
    return Verdict.OK
