"""Logging set-up shared by the programs. v1's line format (docs/operations.md#logs):
`YYYY-MM-DD HH:MM:SS.mmm LEVL sign:<sign> : <message>`."""

import logging
import logging.handlers
import os

_LEVEL_NAMES = {"DEBUG": "DEBU", "INFO": "INFO", "WARNING": "WARN", "ERROR": "ERRO", "CRITICAL": "FATA"}


class V1Formatter(logging.Formatter):
    def __init__(self, sign: "str | None" = ""):
        super().__init__()
        self.sign = sign

    def format(self, record: logging.LogRecord) -> str:
        stamp = self.formatTime(record, "%Y-%m-%d %H:%M:%S") + f".{int(record.msecs):03d}"
        level = _LEVEL_NAMES.get(record.levelname, record.levelname[:4])
        who = "" if self.sign is None else f" sign:{self.sign}"
        text = f"{stamp} {level}{who} : {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup(
    path: str,
    *,
    sign: "str | None" = "",
    verbose: bool = False,
    console: bool = False,
    max_bytes: int = 40 * 1024 * 1024,
    backups: int = 1,
) -> None:
    """Send the root logger to a rotating file (and optionally stderr). Called once per program.
    `sign=None` leaves the `sign:` field out (the supernode has no per-run sign)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_dragonfly", False):
            root.removeHandler(h)
            h.close()
    formatter = V1Formatter(sign)
    handlers: list[logging.Handler] = []
    if path:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups))
    if console:
        handlers.append(logging.StreamHandler())
    for h in handlers:
        h.setFormatter(formatter)
        h._dragonfly = True  # type: ignore[attr-defined]  # marks our handlers for the next call to remove
        root.addHandler(h)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
