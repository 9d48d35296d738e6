"""Run a download under the overall timeout (docs/architecture.md#one-download).

The download runs in a daemon thread; when time is up the caller stops waiting, sets
`cancelled` (the download checks it and stops soon, never committing a file afterwards) and
gets a TimeoutError.
"""

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def run_with_deadline(fn: Callable[[], T], timeout: float, cancelled: threading.Event) -> T:
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the waiting thread, which re-raises it
            box["error"] = e

    worker = threading.Thread(target=target, name="download", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        cancelled.set()
        raise TimeoutError(f"download time out after {timeout:.0f}s")
    if "error" in box:
        raise box["error"]
    return box["value"]
