"""Layer downloads inside dfdaemon, with dfget's own library code (docs/architecture.md#dfdaemon-the-path-of-one-blob).

Why: a dfget process per blob paid Python start-up, the upload-server check and its own
logging set-up before the first byte, in series for docker's config blob and then its layers
(BENCHMARKS.md). Here every blob is a `dfget.session.Session` run on a thread of dfdaemon: the
same registration, pull loop, piece fetching, md5 check and back-to-source as `dfget -u ...`.

`HostPeer` is the host's one P2P client. It is shared by every blob and holds what outlives one
download: the bound on concurrent downloads, the allocation of unique signs (a sign names a
run's files and its cid, and two blobs may start within the same millisecond), and the way to
the host's one upload server: each run finds it through `<workHome>/meta/host.meta` with dfget's
launcher (docs/decisions.md #20), so dfdaemon and any dfget of the same home share one server,
and one that idled out is started again by the next blob.

`InProcessRun` has the interface of downloader.DfgetProcess (start, finished, returncode,
candidates, tail, kill — which cancels the session: no back-to-source for a blob nobody wants), so downloads.Download
follows either the same way. Its command line is
the one an external dfget would get (rules.dfget_argv), parsed by dfget's own CLI parser, so
`dfget_flags` and every flag mean the same in both modes. Whatever goes wrong in a run (a bad
flag, a bug) ends that run with a non-zero code and the readers fall back to the registry;
dfdaemon itself never sees the exception.
"""

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable

from click import ClickException

from common.dfget_files import make_sign
from common.errors import ConfigError
from common.urls import filter_url
from dfdaemon.downloader import KEEP_LINES, written_files
from dfget.cli import config_from_argv
from dfget.errors import DfgetError
from dfget.progressbar import ProgressBar
from dfget.services import Services
from dfget.session import Session
from dfget.status import ExitStatus, exit_status

log = logging.getLogger(__name__)
MAX_RUNNING = 16  # downloads at once; docker and containerd pull 3 layers at a time each
SLOT_WAIT = 30.0  # s a download waits for a free slot before its readers go to the registry


class _Notifying(ProgressBar):
    """dfget's progress sink, telling the follower a piece has landed (no polling delay)."""

    def __init__(self, clock, on_change: Callable[[], None]):
        super().__init__(lambda: None, clock, enabled=False)
        self._on_change = on_change

    def add(self, n: int) -> None:
        super().add(n)
        self._on_change()


class HostPeer:
    """The per-host P2P client shared by every in-process download (see the module docstring)."""

    def __init__(
        self,
        max_running: int = MAX_RUNNING,
        slot_wait: float = SLOT_WAIT,
        services: "Callable[[], Services] | None" = None,
        config_files=None,
    ):
        self._slots = threading.BoundedSemaphore(max_running)
        self.slot_wait = slot_wait
        self._services = services or Services
        self._config_files = config_files
        self._sign_lock = threading.Lock()
        self._last_ms = 0
        self._ids = itertools.count(1)

    def run(self, argv: "list[str]", output: str, data_dir: str, on_change: Callable[[], None]) -> "InProcessRun":
        """A download of `argv` (an external dfget's command line) into `output`; call start()."""
        return InProcessRun(self, next(self._ids), argv, output, data_dir, on_change)

    def start_time(self) -> float:
        """Now, at least a millisecond after any run started before: signs (pid + ms) are unique."""
        with self._sign_lock:
            ms = max(int(time.time() * 1000), self._last_ms + 1)
            self._last_ms = ms
            return ms / 1000

    def acquire(self) -> bool:
        return self._slots.acquire(timeout=self.slot_wait)

    def release(self) -> None:
        self._slots.release()

    def config(self, argv: "list[str]"):
        if self._config_files is None:
            return config_from_argv(argv[1:])
        return config_from_argv(argv[1:], files=self._config_files)

    def services(self, echo: Callable[[str], None]) -> Services:
        svc = self._services()
        svc.echo = svc.echo_err = echo
        svc.configure_logging = False
        svc.err_stream = lambda: None
        return svc


class InProcessRun:
    def __init__(
        self, peer: HostPeer, run_id: int, argv: "list[str]", output: str, data_dir: str, on_change: Callable[[], None]
    ):
        self.peer, self.id = peer, run_id
        self.argv, self.output, self.data_dir = argv, output, data_dir
        self.on_change = on_change
        self.sign = ""
        self.lines: list[str] = []
        self.returncode: int | None = None
        self.abandoned = threading.Event()
        self._session: Session | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        """Not a process: the run's number, for thread names and log lines."""
        return self.id

    @property
    def finished(self) -> bool:
        return self.returncode is not None

    def start(self) -> None:
        threading.Thread(target=self._main, name=f"blob-{self.id}", daemon=True).start()

    def _echo(self, line: str) -> None:
        with self._lock:
            self.lines = (self.lines + [line])[-KEEP_LINES:]
        log.debug("blob-%d: %s", self.id, line)

    def _main(self) -> None:
        code = ExitStatus.DOWNLOAD
        try:
            if not self.peer.acquire():
                self._echo(f"no free download slot within {self.peer.slot_wait:g}s")
                return
            try:
                code = self._download()
            finally:
                self.peer.release()
        except Exception as e:  # a bug must end this download, never dfdaemon
            log.exception("in-process download of %s failed", self.output)
            self._echo(f"unexpected error: {e}")
        finally:
            self.returncode = int(code)
            self.on_change()

    def _download(self) -> int:
        try:
            cfg = self.peer.config(self.argv)
        except (ClickException, ConfigError) as e:
            self._echo(f"bad dfget command line: {e}")
            return ExitStatus.USAGE
        if self.abandoned.is_set():
            self._echo("cancelled before it began")
            return ExitStatus.DOWNLOAD
        svc = self.peer.services(self._echo)
        started = self.peer.start_time()
        sign = make_sign(svc.pid, started)
        session = Session(cfg, svc, sign, os.path.abspath(self.output), started, filter_url(cfg.url, list(cfg.filters)))
        session.progress = _Notifying(svc.clock, self.on_change)
        with self._lock:
            self._session = session
            if self.abandoned.is_set():
                session.cancel()
        self.sign = sign
        self.on_change()
        try:
            session.execute()
        except DfgetError as e:
            self._echo(f"download FAIL: {e}")
            return int(exit_status(e))
        self._echo(
            f"download SUCCESS cost:{time.time() - started:.3f}s length:{session.file_length} reason:{session.reason}"
        )
        return 0

    def candidates(self) -> "list[tuple[str, bool]]":
        return written_files(self.sign, self.output, self.data_dir)

    def tail(self) -> str:
        with self._lock:
            return " | ".join(self.lines[-5:])

    def kill(self) -> None:
        """Nobody reads any more (or dfdaemon stops): a run that has not begun does not begin; a
        running one is cancelled (Session.cancel: its attempt ends within about half a second,
        without back-to-source)."""
        with self._lock:
            self.abandoned.set()
            session = self._session
        if session is not None:
            session.cancel()
