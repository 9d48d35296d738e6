"""One external dfget (`--dfpath`) downloading one layer (docs/architecture.md#dfdaemon-the-path-of-one-blob), and where
its bytes appear.

dfdaemon runs downloads in-process by default (inprocess.py); an operator who names a dfget
with `--dfpath` gets v1's way, one dfget process per blob. That keeps any dfget usable (v1's Go
one too), and a child can be killed when docker goes away. The price is a process start-up, the
upload-server check and a registration per blob, in series for docker's config then its layers
(BENCHMARKS.md: in-process vs `--dfpath`).

Streaming without touching dfget: dfget prints `sign:<sign>` before it downloads, which names
its files: `<home>/data/<output name>-<sign>.service` (p2p pattern, pieces out of order),
`<localrepo>/dfget-<sign>.tmp-*` (cdn pattern) and `<localrepo>/backsource.<sign>.*` (source,
written in order). `candidates()` lists the ones that exist; the Download follows them.
"""

import glob
import logging
import os
import subprocess
import threading
from collections.abc import Callable

from common.dfget_files import (
    back_source_prefix,
    service_file_name,
    task_file_name,
    temp_target_prefix,
)

log = logging.getLogger(__name__)
KEEP_LINES = 50


def written_files(sign: str, output: str, data_dir: str) -> "list[tuple[str, bool]]":
    """(path, written-in-order) of the existing files a dfget run named `sign` writes `output`
    into (see the module docstring); [] before the sign is known."""
    if not sign:
        return []
    name = os.path.basename(output)
    repo = os.path.dirname(output)
    found = [(os.path.join(data_dir, service_file_name(task_file_name(name, sign))), False)]
    found += [(p, False) for p in glob.glob(os.path.join(repo, glob.escape(temp_target_prefix(sign)) + "*"))]
    found += [(p, True) for p in glob.glob(os.path.join(repo, glob.escape(back_source_prefix(sign)) + "*"))]
    return [(p, seq) for p, seq in found if os.path.exists(p)]


class DfgetProcess:
    def __init__(self, argv: "list[str]", output: str, data_dir: str, on_change: Callable[[], None]):
        self.argv = argv
        self.output = output
        self.data_dir = data_dir
        self.on_change = on_change
        self.sign = ""
        self.lines: list[str] = []
        self.returncode: int | None = None
        self._proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Start dfget; raises OSError if it cannot be executed."""
        self._proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        )
        threading.Thread(target=self._read, name=f"dfget-{self._proc.pid}", daemon=True).start()

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc else 0

    def _read(self) -> None:
        for line in self._proc.stdout:
            line = line.rstrip("\n")
            self.lines = (self.lines + [line])[-KEEP_LINES:]
            if line.startswith("sign:") and not self.sign:
                self.sign = line[len("sign:") :].strip()
            self.on_change()
        self.returncode = self._proc.wait()
        log.debug("dfget pid=%d exited %d", self._proc.pid, self.returncode)
        self.on_change()

    @property
    def finished(self) -> bool:
        return self.returncode is not None

    def candidates(self) -> "list[tuple[str, bool]]":
        """(path, written-in-order) of the files this dfget is writing the layer into."""
        return written_files(self.sign, self.output, self.data_dir)

    def tail(self) -> str:
        return " | ".join(self.lines[-5:])

    def kill(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.kill()
