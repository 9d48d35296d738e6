"""Stopping dfdaemon while a download runs: the follower never touches a closed descriptor.

A run may go on (and keep signalling) for a moment after Downloads.stop() closed its files — an
in-process one notices its cancellation only at its next check; the follower must stop following
instead of calling fstat on a closed (or, worse, reused) descriptor."""

import os
import threading

from dfdaemon.downloads import Downloads


class RunningForever:
    """A download run that has written a first piece and never finishes."""

    def __init__(self, argv, output, data_dir, on_change):
        self.output, self.on_change = output, on_change
        self.path = os.path.join(data_dir, "piece.service")
        self.returncode = None
        self.pid = 1
        self.stop = threading.Event()

    def start(self):
        with open(self.path, "wb") as f:
            f.write(b"x" * 4096)

        def keep_signalling():
            while not self.stop.wait(0.005):
                self.on_change()

        threading.Thread(target=keep_signalling, daemon=True).start()

    @property
    def finished(self):
        return False

    def candidates(self):
        return [(self.path, True)]

    def tail(self):
        return ""

    def kill(self):
        pass


def test_the_follower_stops_when_the_download_is_closed(tmp_path):
    errors = []
    previous = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)
    runs = []

    def runner(*a):
        runs.append(RunningForever(*a))
        return runs[-1]

    try:
        downloads = Downloads(str(tmp_path), str(tmp_path), retention=60, streaming=True, runner=runner)
        dl, _ = downloads.start("key", "http://x/blob", 4096, lambda output: ["dfget"])
        assert dl.wait(lambda s: s.available == 4096, 10).available == 4096
        follower = next(t for t in threading.enumerate() if t.name.startswith("follow-"))
        downloads.stop()
        follower.join(10)
        assert not follower.is_alive()  # it stopped following the closed download
        assert dl.read(0, 10) == b""
    finally:
        for run in runs:
            run.stop.set()
        threading.excepthook = previous
    assert errors == []
