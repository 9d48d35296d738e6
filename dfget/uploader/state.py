"""The upload server's in-memory state: registered tasks, the host-wide limit, liveness.

One `UploadState` per server process, shared by the request threads, the expiry sweep and the
idle monitor; every method holds the lock for a few dictionary operations only, never across
I/O. Time comes from the injected clock.

One server serves every home on the host (v1 runs one per host, issue 12): each task remembers
the data directory its dfget named at /check (the server's own by default). The number of tasks
and of directories is bounded, so even a misbehaving local client cannot grow it without end.
"""

import os
import threading
from dataclasses import dataclass

from common.errors import BadInput
from common.rate import TokenBucket
from dfget.uploader.core import policy

MAX_TASKS = 100_000
MAX_DATA_DIRS = 256


class StateFull(BadInput):
    """Too many tasks or data directories registered (answered 503)."""


@dataclass
class TaskRecord:
    """v1's taskConfig: what the server knows about one task file."""

    name: str
    data_dir: str = ""  # real path of the directory holding `<name>.service`
    finished: bool = False
    task_id: str = ""
    cid: str = ""
    super_node: str = ""
    client_key: str = ""  # sent with service/down (supernode.core.identity)
    rate: int = 0
    access_time: float = 0.0

    def view(self) -> policy.TaskView:
        return policy.TaskView(finished=self.finished, access_time=self.access_time)


class UploadState:
    def __init__(self, data_dir: str, clock, *, expire_time: float = 180.0, alive_time: float = 300.0):
        self.data_dir = os.path.realpath(data_dir)
        self.clock = clock
        self.expire_time = expire_time
        self.alive_time = alive_time
        self._lock = threading.Lock()
        self._tasks: dict[str, TaskRecord] = {}
        self.total_limit = 0
        self.limiter: TokenBucket | None = None
        self._last_alive = clock.monotonic()
        self._active = 0

    # ---- liveness --------------------------------------------------------------------------

    def touch(self) -> None:
        with self._lock:
            self._last_alive = self.clock.monotonic()

    def upload_started(self) -> None:
        with self._lock:
            self._active += 1
            self._last_alive = self.clock.monotonic()

    def upload_progressed(self) -> None:
        """A chunk went out: uploads keep the server alive only while they move."""
        self.touch()

    def upload_ended(self) -> None:
        with self._lock:
            self._active -= 1
            self._last_alive = self.clock.monotonic()

    @property
    def active_uploads(self) -> int:
        with self._lock:
            return self._active

    def idle(self) -> bool:
        with self._lock:
            return policy.is_idle(self.clock.monotonic(), self._last_alive, self.alive_time)

    def seconds_until_idle(self) -> float:
        with self._lock:
            return policy.idle_deadline(self._last_alive, self.alive_time) - self.clock.monotonic()

    # ---- tasks -----------------------------------------------------------------------------

    def register(self, name: str, data_dir: str = "") -> TaskRecord:
        """/check: remember the task (unfinished) in `data_dir` (a real path; default ours).
        Known in the same directory: kept as it is; named with another directory: started over
        there, as v1 replaces its record."""
        data_dir = data_dir or self.data_dir
        with self._lock:
            task = self._tasks.get(name)
            if task is not None and task.data_dir == data_dir:
                return task
            self._check_room(name, data_dir)
            task = self._tasks[name] = TaskRecord(name, data_dir, access_time=self.clock.time())
            return task

    def _check_room(self, name: str, data_dir: str) -> None:
        if name not in self._tasks and len(self._tasks) >= MAX_TASKS:
            raise StateFull(f"too many tasks registered ({MAX_TASKS})")
        if (
            data_dir != self.data_dir
            and data_dir not in self._dirs_locked()
            and len(self._dirs_locked()) >= MAX_DATA_DIRS
        ):
            raise StateFull(f"too many data directories registered ({MAX_DATA_DIRS})")

    def _dirs_locked(self) -> "set[str]":
        return {t.data_dir for t in self._tasks.values()}

    def finish(self, name: str, task_id: str, cid: str, super_node: str, client_key: str = "") -> TaskRecord:
        """/client/finish: the task's file is complete and may be served until it expires
        (from the directory given at /check; ours for a task never checked, as v1)."""
        with self._lock:
            if name not in self._tasks:
                self._check_room(name, self.data_dir)
            task = self._tasks.setdefault(name, TaskRecord(name, self.data_dir))
            task.finished, task.task_id, task.cid, task.super_node = True, task_id, cid, super_node
            task.client_key = client_key
            task.rate = 0
            task.access_time = self.clock.time()
            return task

    def accessed(self, name: str) -> "TaskRecord | None":
        with self._lock:
            task = self._tasks.get(name)
            if task is not None:
                task.access_time = self.clock.time()
            return task

    def get(self, name: str) -> "TaskRecord | None":
        with self._lock:
            return self._tasks.get(name)

    def forget(self, name: str) -> "TaskRecord | None":
        with self._lock:
            return self._tasks.pop(name, None)

    def tasks(self) -> "list[TaskRecord]":
        with self._lock:
            return list(self._tasks.values())

    def views(self, data_dir: str = "") -> "dict[str, policy.TaskView]":
        """The tasks whose files live in `data_dir` (default ours)."""
        data_dir = data_dir or self.data_dir
        with self._lock:
            return {name: t.view() for name, t in self._tasks.items() if t.data_dir == data_dir}

    def data_dirs(self) -> "list[str]":
        """Our own data directory first, then every other one a task names."""
        with self._lock:
            others = sorted(self._dirs_locked() - {self.data_dir})
        return [self.data_dir, *others]

    # ---- rates -----------------------------------------------------------------------------

    def configure_total_limit(self, total_limit: int) -> None:
        """A positive total limit (from /check) sets the host-wide upload and download budget."""
        if total_limit <= 0:
            return
        with self._lock:
            if total_limit == self.total_limit and self.limiter is not None:
                return
            self.total_limit = total_limit
            if self.limiter is None:
                self.limiter = TokenBucket(total_limit, self.clock)
            else:
                self.limiter.set_rate(total_limit)

    def share_rate(self, name: str, rate: int) -> int:
        """/rate: record this task's wish and return its share of the total limit."""
        with self._lock:
            if self.total_limit <= 0:
                return rate
            if rate <= 0:  # no --locallimit: as much as the host-wide limit allows
                rate = self.total_limit
            task = self._tasks.get(name)
            if task is not None:
                task.rate = rate
            rates = [t.rate for t in self._tasks.values() if not t.finished]
            return policy.share_rate(rate, self.total_limit, rates)

    def reserve_upload(self, n: int) -> float:
        """Seconds to wait before sending `n` more bytes under the host-wide limit."""
        with self._lock:
            return self.limiter.reserve(n) if self.limiter is not None else 0.0

    def refund_upload(self, n: int) -> None:
        """`n` reserved bytes were not sent (the upload was cut): others need not wait for them."""
        with self._lock:
            if self.limiter is not None:
                self.limiter.refund(n)
