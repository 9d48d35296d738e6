"""dfget --showbar in a real terminal (a tmux pane): the last line on screen is the final bar and
nothing of a longer line drawn before it (issue 14: `eta 11s7s`)."""

import http.server
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.support.procs import wait_until

SIZE = 10 << 20
FIRST = 20 << 10


class Trickle(http.server.BaseHTTPRequestHandler):
    """A source that sends a little, pauses (so the bar draws a long `eta 1m…`), then the rest at once."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(SIZE))
        self.end_headers()
        self.wfile.write(b"a" * (FIRST // 2))
        self.wfile.flush()
        time.sleep(0.6)
        self.wfile.write(b"a" * (FIRST // 2))
        self.wfile.flush()
        time.sleep(0.6)
        self.wfile.write(b"a" * (SIZE - FIRST))

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", str(SIZE))
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def source():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/blob"
    server.shutdown()
    server.server_close()


@pytest.fixture
def tmux(tmp_path):
    """`run(cmd)` in a 200-column pane of a private tmux server; the server is ended by its PID."""
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed (apt-get install tmux)")
    sock = str(tmp_path / "tmux.sock")
    pids = []

    def tmux_cmd(*args):
        return subprocess.run(
            ["tmux", "-S", sock, *args], check=True, capture_output=True, text=True, timeout=30
        ).stdout

    def run(cmd: str) -> None:
        tmux_cmd("new-session", "-d", "-x", "200", "-y", "30", "sh", "-c", cmd)
        pids.append(int(tmux_cmd("display-message", "-p", "#{pid}").strip()))

    def screen() -> str:
        return tmux_cmd("capture-pane", "-p", "-J")

    run.screen = screen
    yield run
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def test_showbar_leaves_no_stale_characters(tmux, source, tmp_path):
    dfget = os.path.join(os.path.dirname(sys.executable), "dfget")
    argv = [
        dfget,
        "-u",
        source,
        "-o",
        str(tmp_path / "out"),
        "-p",
        "source",
        "--showbar",
        "--home",
        str(tmp_path / "home"),
    ]
    # `exec cat` keeps the pane (and its screen) after dfget exits.
    tmux(f"{shlex.join(argv)}; echo EXIT=$?; exec cat")

    def finished():
        screen = tmux.screen()
        return screen if "EXIT=" in screen else None

    screen = wait_until(finished, 120, "dfget to finish")
    assert "EXIT=0" in screen, screen
    bars = [line for line in screen.splitlines() if "%" in line and "[" in line]
    assert bars, screen
    final = bars[-1].rstrip()
    assert re.fullmatch(r"100% \[=+\] 10\.0MiB/10\.0MiB \S+/s in \d+s", final), screen
