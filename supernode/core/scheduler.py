"""Schedule (spec §5): which missing pieces a client fetches next, and from whom. Pure: it reads
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
   (decisions 5) or would exceed peerUpLimit is skipped. Load is reserved as we go.
5. Nobody -> the supernode, within its own per-task limit (decisions 2); full -> skip the piece.
   A piece another client is already fetching from the supernode is skipped too while this
   client has other work: it will soon be at a peer, and the supernode's upload is the scarce
   resource of a flash crowd. A client with nothing else to do still gets it (no starvation).
6. Stop when the client would run `peer_down_limit` pieces.
"""
from dataclasses import dataclass
from typing import Callable, Mapping

from supernode.core.model import Limits
from supernode.core.progress import ClientProgress, PeerState, TaskProgress


@dataclass(frozen=True)
class Assignment:
    piece: int
    source: str                 # a peer ID, or the supernode's own peer ID


@dataclass(frozen=True)
class Plan:
    assignments: "tuple[Assignment, ...]" = ()
    drops: "tuple[tuple[int, str], ...]" = ()   # (piece, holder PID) to forget
    limited: bool = False

    @property
    def wait(self) -> bool:
        return not self.assignments and not self.limited


@dataclass(frozen=True)
class View:
    """What the scheduler may look at, for one client of one task."""
    task: TaskProgress
    client: ClientProgress
    peers: "Mapping[str, PeerState]"
    black: "Mapping[str, int]"          # the client's black list: dst PID -> failures
    servable: "Callable[[str], bool]"   # has a peer record, uploads, downloads this task
    src_pid: str
    super_pid: str


_LONG_WALK = 16
_NONE: "frozenset[str]" = frozenset()


def available_pieces(task: TaskProgress, client: ClientProgress) -> "set[int]":
    return set(task.cdn.successes() - client.bits.successes()) - set(client.running)


def order_pieces(pieces, holders: "Mapping[int, set]", running, rng,
                 in_flight: "Mapping[int, int] | None" = None) -> "list[int]":
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


def plan(view: View, limits: Limits, rng) -> Plan:
    available = available_pieces(view.task, view.client)
    if not available:
        return Plan()
    if len(view.client.running) >= limits.peer_down_limit:
        return Plan(limited=True)
    alone = isolated(view, limits)
    extra: "dict[str, int]" = {}
    drops: "list[tuple[int, str]]" = []
    super_load = view.task.super_load
    picks: "list[Assignment]" = []
    verdicts: "dict[str, str]" = {}
    busy = None
    for walked, piece in enumerate(order_pieces(available, view.task.holders, view.client.running, rng,
                                                view.task.in_flight)):
        if walked == _LONG_WALK and not alone:
            # a long walk: most holders are probably at their upload limit (the answer is likely
            # a 602); skip the pieces all of whose holders are, without looking at each of them
            busy = {pid for pid, st in view.peers.items() if st.producer_load >= limits.peer_up_limit}
        if alone or (busy is not None and view.task.holders.get(piece, _NONE) <= busy):
            source = None
        else:
            source = _pick_holder(view, piece, limits, extra, drops, rng, verdicts)
        if source is None:
            if super_load >= limits.supernode_task_upload_limit:
                continue
            if not alone and view.task.super_in_flight.get(piece) and (view.client.running or picks):
                continue
            super_load += 1
            source = view.super_pid
        picks.append(Assignment(piece, source))
        if len(view.client.running) + len(picks) >= limits.peer_down_limit:
            break
    return Plan(tuple(picks), tuple(drops))


def _pick_holder(view: View, piece: int, limits: Limits, extra: "dict[str, int]",
                 drops: "list[tuple[int, str]]", rng, verdicts: "dict[str, str]") -> "str | None":
    """A holder chosen uniformly at random among those that may serve now.

    The holders are drawn lazily in random order (a partial Fisher-Yates over the set's order,
    v1's "map order, effectively random") and verdicts are cached for the whole plan: sorting and
    shuffling every holder set on every pull was a hot spot once holders number in the hundreds."""
    holders = view.task.holders.get(piece)
    if not holders:
        return None
    bad = view.client.bad_sources.get(piece, ())
    peers, up_limit = view.peers, limits.peer_up_limit
    order = list(holders)
    n = len(order)
    while n:
        i = rng.randrange(n) if n > 1 else 0
        pid = order[i]
        n -= 1
        order[i] = order[n]
        verdict = verdicts.get(pid)
        if verdict is None:
            verdict = verdicts[pid] = _holder_verdict(view, pid, limits)
        if verdict == "drop":
            drops.append((piece, pid))
            continue
        if verdict == "skip" or pid in bad or peers[pid].producer_load + extra.get(pid, 0) + 1 > up_limit:
            continue
        extra[pid] = extra.get(pid, 0) + 1
        return pid
    return None


def _holder_verdict(view: View, pid: str, limits: Limits) -> str:
    state = view.peers.get(pid)
    if state is None or pid == view.super_pid or not view.servable(pid):
        return "drop"
    if state.down or state.service_error_count >= limits.elimination_limit:
        return "drop"
    if pid == view.src_pid or view.black.get(pid, 0) > 0:
        return "skip"
    return "ok"
