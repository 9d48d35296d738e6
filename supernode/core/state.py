"""All the supernode's in-memory state, with the indexes that keep lookups cheap."""

from supernode.core.model import DfgetTask, Peer, Task, dfget_key, peer_id
from supernode.core.progress import ClientProgress, PeerState, Progress, TaskProgress


class SupernodeState:
    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}
        self.peers: dict[str, Peer] = {}
        self.dfget_tasks: dict[str, DfgetTask] = {}  # cid@taskId -> download
        self.cid_by_peer: dict[str, str] = {}  # peerId@taskId -> cid
        self.keys_by_task: dict[str, set[str]] = {}  # taskId -> {cid@taskId}
        self.keys_by_peer: dict[str, set[str]] = {}  # peerId -> {cid@taskId}
        self.unreachable: dict[str, float] = {}  # taskId -> time of the 404
        self.progress = Progress()
        self.super_pid = ""

    # ---- lookups --------------------------------------------------------------------------

    def dfget(self, task_id: str, cid: str) -> "DfgetTask | None":
        return self.dfget_tasks.get(dfget_key(cid, task_id))

    def dfget_of_peer(self, pid: str, task_id: str) -> "DfgetTask | None":
        cid = self.cid_by_peer.get(f"{pid}@{task_id}")
        return self.dfget(task_id, cid) if cid is not None else None

    def dfgets_of_task(self, task_id: str) -> "list[DfgetTask]":
        return [self.dfget_tasks[k] for k in sorted(self.keys_by_task.get(task_id, ()))]

    def dfgets_of_peer(self, pid: str) -> "list[DfgetTask]":
        return [self.dfget_tasks[k] for k in sorted(self.keys_by_peer.get(pid, ()))]

    def servable(self, pid: str, task_id: str) -> bool:
        peer = self.peers.get(pid)
        return peer is not None and peer.uploads and self.dfget_of_peer(pid, task_id) is not None

    def new_peer_id(self, host_name: str, ip: str, now: float) -> str:
        ns = int(now * 1e9)
        while peer_id(host_name, ip, ns) in self.peers:
            ns += 1
        return peer_id(host_name, ip, ns)

    # ---- changes --------------------------------------------------------------------------

    def add_task(self, task: Task) -> None:
        self.tasks[task.id] = task
        self.progress.tasks.setdefault(task.id, TaskProgress())

    def add_peer(self, peer: Peer, with_progress: bool = True) -> None:
        self.peers[peer.id] = peer
        if with_progress:
            self.progress.peers.setdefault(peer.id, PeerState())

    def add_dfget(self, dt: DfgetTask, with_progress: bool = True) -> None:
        self.dfget_tasks[dt.key] = dt
        self.cid_by_peer[f"{dt.peer_id}@{dt.task_id}"] = dt.cid
        self.keys_by_task.setdefault(dt.task_id, set()).add(dt.key)
        self.keys_by_peer.setdefault(dt.peer_id, set()).add(dt.key)
        if with_progress:
            self.progress.clients[dt.key] = ClientProgress(streams=dt.streams_pieces)

    def remove_dfget(self, key: str, now: float) -> "DfgetTask | None":
        dt = self.dfget_tasks.pop(key, None)
        if dt is None:
            return None
        if self.cid_by_peer.get(f"{dt.peer_id}@{dt.task_id}") == dt.cid:
            del self.cid_by_peer[f"{dt.peer_id}@{dt.task_id}"]
        self.keys_by_task.get(dt.task_id, set()).discard(key)
        peer_keys = self.keys_by_peer.get(dt.peer_id, set())
        peer_keys.discard(key)
        if not peer_keys:
            self.keys_by_peer.pop(dt.peer_id, None)
        self.progress.forget_client(dt.task_id, key, now, dt.peer_id)
        return dt
