"""Capabilities a run uses (clock, sleep, rng, output streams, upload server), injectable for tests."""

import os
import random
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from common.shell.clock import SystemClock
from dfget.core.timing import LONG_POLL_SECONDS
from dfget.upload_server import UploadServer


def _stdout(line: str) -> None:
    print(line, file=sys.stdout, flush=True)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Services:
    clock: Any = field(default_factory=SystemClock)
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    echo: Callable[[str], None] = _stdout
    echo_err: Callable[[str], None] = _stderr
    err_stream: Callable[[], Any] = lambda: sys.stderr
    uploader: Any = field(default_factory=UploadServer)
    pid: int = field(default_factory=os.getpid)
    hostname: str = field(default_factory=socket.gethostname)
    long_poll: float = LONG_POLL_SECONDS
    configure_logging: bool = True
