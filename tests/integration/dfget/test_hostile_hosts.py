"""dfget against a poisoned host: an upload server that grants 1 B/s (issue 11 items 1 and 11).

Before the fix the download printed FAIL at its deadline but its piece threads slept for days
in the rate limiter (and the process, joining them at exit, never ended), and the abandoned
back-to-source thread left its `backsource.*` temp file next to the output.
"""

import os
import random
import subprocess
import sys
import threading

from dfget.services import Services
from tests.integration.dfget.fakes import FakeUploader
from tests.integration.dfget.test_p2p import _download, cluster  # noqa: F401  (fixture)


class PoisonedUploader(FakeUploader):
    """An upload server whose /rate answers 1 byte per second."""

    def rate(self, ctx, rate: int):
        self.rates.append(rate)
        return 1


def _piece_threads():
    return [t for t in threading.enumerate() if t.name.startswith("piece") and t.is_alive()]


def test_a_poisoned_rate_fails_by_the_deadline_and_leaves_no_thread_or_temp_file(dfget, tmp_path, cluster):  # noqa: F811
    sn, node, url, pieces, origin_app = cluster
    services = Services(rng=random.Random(1), uploader=PoisonedUploader())
    result, out = _download(dfget, tmp_path, cluster, "--timeout", "2s", services=services)
    assert result.exit_code != 0
    assert result.stdout.splitlines()[-1].startswith("download FAIL")
    deadline = threading.Event()
    for t in _piece_threads():
        t.join(5)
    assert _piece_threads() == [], "piece threads still waiting in the rate limiter"
    deadline.wait(0)  # nothing else to wait for: the temp files must already be gone
    leftovers = [n for n in os.listdir(out.parent) if n != "big.bin"]
    assert leftovers == [] and not out.exists()


def test_the_dfget_command_exits_even_if_a_thread_is_stuck():
    """The last line of defence: after the result line, nothing may hold the process up."""
    code = (
        "import threading\n"
        "threading.Thread(target=threading.Event().wait, name='stuck').start()\n"
        "from dfget.cli import main\n"
        "main(['version'])\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, err
    assert b"dfget" in out
