"""dfget --showbar: a shorter redraw leaves nothing of the longer line before it (issue 14)."""

import io

from dfget.core.progress import render
from dfget.progressbar import CLEAR_TO_EOL, ProgressBar


class Clock:
    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        return self.now


class Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def screen_lines(text: str) -> "list[str]":
    """What a terminal shows for `text`: \\r returns to column 0 and overwrites, ESC[K erases the rest."""
    lines, line, col = [], [], 0
    i = 0
    while i < len(text):
        if text.startswith(CLEAR_TO_EOL, i):
            del line[col:]
            i += len(CLEAR_TO_EOL)
            continue
        ch = text[i]
        if ch == "\r":
            col = 0
        elif ch == "\n":
            lines.append("".join(line))
            line, col = [], 0
        else:
            if col < len(line):
                line[col] = ch
            else:
                line.append(ch)
            col += 1
        i += 1
    if line:
        lines.append("".join(line))
    return lines


def long_then_short(stream) -> str:
    """A download whose middle line ("eta 2m…") is longer than its final one ("in 1s")."""
    clock = Clock()
    bar = ProgressBar(lambda: stream, clock, enabled=True)
    total = 10 << 20
    bar.start(total)
    clock.now = 0.5
    bar.add(20 << 10)
    clock.now = 1.0
    bar.add(total - (20 << 10))
    bar.finish()
    final = render(total, total, 1.0, final=True)
    middle = render(20 << 10, total, 0.5)
    assert len(middle) > len(final), "the scenario must redraw a shorter line over a longer one"
    return final


def test_terminal_line_is_cleared_to_its_end():
    stream = Stream(tty=True)
    final = long_then_short(stream)
    assert screen_lines(stream.getvalue()) == [final]
    assert stream.getvalue().endswith(final + CLEAR_TO_EOL + "\n")


def test_pipe_gets_spaces_instead_of_escape_codes():
    stream = Stream(tty=False)
    final = long_then_short(stream)
    assert CLEAR_TO_EOL not in stream.getvalue()
    assert [line.rstrip() for line in screen_lines(stream.getvalue())] == [final]


def test_disabled_bar_writes_nothing():
    stream = Stream(tty=True)
    bar = ProgressBar(lambda: stream, Clock(), enabled=False)
    bar.start(10)
    bar.add(10)
    bar.finish()
    assert stream.getvalue() == ""
