"""--showbar: a progress bar on stderr (docs/decisions.md #10). stdout is never touched."""

import threading

from dfget.core.progress import render

REDRAW_SECONDS = 0.2
# ANSI "erase to end of line": a shorter line ("eta 7s" after "eta 11s") must not leave the tail
# of the longer one on the screen.
CLEAR_TO_EOL = "\x1b[K"


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class ProgressBar:
    def __init__(self, stream_fn, clock, enabled: bool):
        self._stream_fn = stream_fn
        self._clock = clock
        self.enabled = enabled
        self._lock = threading.Lock()
        self.total = 0
        self.done = 0
        self._start = clock.monotonic()
        self._drawn = -1.0
        self._drawn_len = 0

    def start(self, total: int) -> None:
        with self._lock:
            self.total, self.done = max(total, 0), 0
            self._start, self._drawn = self._clock.monotonic(), -1.0
        self._draw(force=True)

    def add(self, n: int) -> None:
        with self._lock:
            self.done += n
        self._draw()

    def finish(self) -> None:
        self._draw(force=True, final=True)

    def _draw(self, force: bool = False, final: bool = False) -> None:
        if not self.enabled:
            return
        with self._lock:
            now = self._clock.monotonic()
            if not force and now - self._drawn < REDRAW_SECONDS:
                return
            self._drawn = now
            line = render(self.done, self.total, now - self._start, final=final)
            stream = self._stream_fn()
            # A terminal erases the rest of the line; a pipe or file (no escape codes wanted there)
            # gets spaces over the previous, longer line instead.
            text = "\r" + (line + CLEAR_TO_EOL if _is_terminal(stream) else line.ljust(self._drawn_len))
            self._drawn_len = 0 if final else len(line)
            stream.write(text + ("\n" if final else ""))
            stream.flush()
