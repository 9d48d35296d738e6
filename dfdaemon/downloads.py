"""Layer downloads shared by the requests that want them (docs/decisions.md #8).

Theory of operation. A Download is one dfget run (in-process, or an external `--dfpath`
process) for one (layer URL, credentials) key. Every
request for that key — the first GET and docker's `Range` retries — reads the same Download, so
a retry never starts a new task. A monitor thread follows dfget's files (downloader.py) and
publishes `available`, the contiguous prefix of the layer that can be read, waking the readers
through a condition variable. When dfget exits 0 the output file is complete and becomes the
file everyone reads; any other exit marks the Download FAILED (each reader then falls back to
the source with its own request headers, see blobs.py).

A Download nobody reads for ABANDON_GRACE while running is killed (docker went away): an
external dfget by a signal, an in-process run by cancelling its session (inprocess.py). A finished
or failed one stays `retention` seconds after its last reader, then its file is deleted.
The key includes a hash of the Authorization header, so a layer fetched with one requester's
credentials is only handed to requests presenting the same credentials.
"""

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from dfdaemon.downloader import DfgetProcess
from dfdaemon.follow import GrowingFile

log = logging.getLogger(__name__)
POLL = 0.02
ABANDON_GRACE = 30.0
RUNNING, DONE, FAILED = "running", "done", "failed"


@dataclass(frozen=True)
class Snapshot:
    state: str
    available: int
    length: int | None
    error: str = ""


class Download:
    def __init__(self, key, url: str, length: int | None, process: DfgetProcess, streaming: bool):
        self.key, self.url = key, url
        self.length = length
        self.process = process
        self.streaming = streaming
        self.state, self.error = RUNNING, ""
        self.available = 0
        self.readers = 0
        self.idle_since = time.monotonic()
        self._files: dict[str, GrowingFile] = {}
        self._best: GrowingFile | None = None
        self._cond = threading.Condition()
        self._closed = False
        self._changed = threading.Event()
        process.on_change = self._changed.set

    @property
    def output(self) -> str:
        return self.process.output

    def start(self) -> None:
        self.process.start()
        threading.Thread(target=self._monitor, name=f"follow-{self.process.pid}", daemon=True).start()

    # -- the monitor ---------------------------------------------------------------------------

    def _monitor(self) -> None:
        while not self.process.finished and not self._closed:
            self._changed.wait(POLL)
            self._changed.clear()
            self._refresh()
        if not self._closed:
            self._refresh()
            self._finalize()

    def _refresh(self) -> None:
        found = self.process.candidates()
        # Under the lock that close() takes: a run that cannot be killed (in-process) goes on
        # signalling after stop() closed our files, and a closed descriptor may already be reused.
        with self._cond:
            if self._closed:
                return
            for path, sequential in found:
                if path not in self._files and (sequential or self.streaming):
                    try:
                        self._files[path] = GrowingFile(path, sequential)
                    except OSError:
                        continue
            best, best_len = None, 0
            for f in self._files.values():
                n = f.contiguous()
                if n > best_len:
                    best, best_len = f, n
            if best_len > self.available:
                self._best, self.available = best, best_len
                self._cond.notify_all()

    def _finalize(self) -> None:
        rc = self.process.returncode
        final = None
        if rc == 0:
            try:
                final = GrowingFile(self.output, sequential=True)
            except OSError as e:
                rc, why = -1, f"dfget reported success but {self.output} is unreadable: {e.strerror}"
        else:
            why = f"dfget exited {rc}: {self.process.tail()}"
        with self._cond:
            if final is not None:
                self._best, self.available, self.state = final, final.contiguous(), DONE
                if self.length is not None and self.length != self.available:
                    log.warning(
                        "url=%s dfget wrote %d bytes, the registry announced %d", self.url, self.available, self.length
                    )
                self.length = self.available
            else:
                self.state, self.error = FAILED, why
                log.warning("url=%s %s", self.url, why)
            self._cond.notify_all()
            # Closed under the lock that read() holds: a reader never sees a closed (or, worse,
            # reused) descriptor of a file swapped out for the final one.
            for path, f in list(self._files.items()):
                if f is not self._best:  # a failed run's best prefix stays readable until close()
                    f.close()
                del self._files[path]

    # -- readers -------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        return Snapshot(self.state, self.available, self.length, self.error)

    def wait(self, ready: Callable[[Snapshot], bool], timeout: float) -> Snapshot:
        """Block until `ready(snapshot)` or the state leaves RUNNING or `timeout` passes."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                snap = self.snapshot()
                left = deadline - time.monotonic()
                if ready(snap) or snap.state != RUNNING or left <= 0:
                    return snap
                self._cond.wait(min(left, 1.0))

    def read(self, offset: int, n: int) -> bytes:
        with self._cond:  # see _finalize: files are swapped and closed under this lock
            f = self._best
            return f.read(offset, n) if f is not None else b""

    def attach(self) -> None:
        with self._cond:
            self.readers += 1

    def detach(self) -> None:
        with self._cond:
            self.readers -= 1
            self.idle_since = time.monotonic()
            if self.readers == 0 and self.state == RUNNING:
                timer = threading.Timer(ABANDON_GRACE, self._abandon)
                timer.daemon = True
                timer.start()

    def _abandon(self) -> None:
        with self._cond:
            if self.readers or self.state != RUNNING:
                return
        log.info("url=%s nobody is reading any more, stopping dfget run %d", self.url, self.process.pid)
        self.process.kill()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for f in {*self._files.values(), *([self._best] if self._best is not None else [])}:
                f.close()
            self._files.clear()
            self._best = None
        try:
            os.remove(self.output)
        except OSError:
            pass


class Downloads:
    """The live Downloads by key; starts a dfget run for a new key."""

    def __init__(self, localrepo: str, data_dir: str, retention: float, streaming: bool, runner=DfgetProcess):
        """`runner(argv, output, data_dir, on_change)` makes the run of one download: an external
        dfget (DfgetProcess) or an in-process one (inprocess.HostPeer.run)."""
        self.runner = runner
        self.localrepo, self.data_dir = localrepo, data_dir
        self.retention = retention
        self.streaming = streaming
        self._by_key: dict[object, Download] = {}
        self._lock = threading.Lock()

    def find(self, key) -> Download | None:
        with self._lock:
            return self._by_key.get(key)

    def start(
        self, key, url: str, length: int | None, argv_for: Callable[[str], "list[str]"]
    ) -> "tuple[Download, bool]":
        """The Download for `key`, starting dfget if there is none; (download, started).
        OSError if dfget cannot be executed."""
        with self._lock:
            existing = self._by_key.get(key)
            if existing is not None and existing.state != FAILED:
                return existing, False
            output = os.path.join(self.localrepo, uuid.uuid4().hex)
            dl = Download(
                key, url, length, self.runner(argv_for(output), output, self.data_dir, lambda: None), self.streaming
            )
            dl.start()
            self._by_key[key] = dl
            return dl, True

    def expire(self, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        gone = []
        with self._lock:
            for key, dl in list(self._by_key.items()):
                if dl.state != RUNNING and dl.readers == 0 and now - dl.idle_since >= self.retention:
                    gone.append(self._by_key.pop(key))
        for dl in gone:
            dl.close()
        return len(gone)

    def live_outputs(self) -> "frozenset[str]":
        with self._lock:
            return frozenset(dl.output for dl in self._by_key.values())

    def stop(self) -> None:
        with self._lock:
            items = list(self._by_key.values())
            self._by_key.clear()
        for dl in items:
            dl.process.kill()
            dl.close()
