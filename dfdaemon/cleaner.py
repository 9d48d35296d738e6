"""The local repo cleaner (docs/operations.md#configuration-and-precedence): every `clean_interval`, drop finished
Downloads past their
retention and delete repo files not accessed for `clean_max_age` (files of live Downloads stay)."""

import logging
import os
import threading
import time

from dfdaemon.core import rules

log = logging.getLogger(__name__)


class RepoCleaner:
    def __init__(self, repo: str, downloads, interval: float, max_age: float):
        self.repo, self.downloads = repo, downloads
        self.interval, self.max_age = interval, max_age
        self._stop = threading.Event()
        self._thread = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="repo-cleaner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # a cleaning round must never end the cleaner
                log.exception("repo cleaning failed")

    def run_once(self, now: "float | None" = None) -> "list[str]":
        self.downloads.expire()
        entries = []
        with os.scandir(self.repo) as it:
            for e in it:
                if e.is_file(follow_symlinks=False):
                    entries.append((e.path, e.stat(follow_symlinks=False).st_atime))
        doomed = rules.stale_files(
            entries, time.time() if now is None else now, self.max_age, self.downloads.live_outputs()
        )
        for path in doomed:
            try:
                os.remove(path)
                log.info("cleaner removed %s", path)
            except OSError as e:
                log.warning("cleaner cannot remove %s: %s", path, e)
        return doomed
