"""Leave the process promptly once dfget has said its last word (issue 11 item 1).

At exit Python joins every non-daemon thread, and concurrent.futures joins its pool workers even
when they are daemon threads. A thread stuck in a read or a wait would keep the process alive
long after the result line, and a caller that waits for dfget (dfdaemon, a script, a CI job)
would hang with it. Threads get a short grace to finish; then the process ends regardless,
after flushing what was written.
"""

import logging
import os
import sys
import threading
import time

EXIT_GRACE = 0.5  # s the other threads have to end after the result


def _blocking_threads() -> "list[threading.Thread]":
    """Threads the interpreter would wait for at exit: non-daemon ones, and pool workers."""
    from concurrent.futures import thread as pool_threads

    pooled = set(getattr(pool_threads, "_threads_queues", {}).keys())
    me = threading.current_thread()
    return [t for t in threading.enumerate() if t is not me and t.is_alive() and (not t.daemon or t in pooled)]


def exit_code_of(code) -> int:
    """sys.exit's argument as a process status (None -> 0, a message -> 1, as Python does)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def exit_promptly(code, grace: float = EXIT_GRACE) -> None:
    """Exit with `code`; if threads still run after `grace` seconds, end the process at once."""
    status = exit_code_of(code)
    deadline = time.monotonic() + grace
    for t in _blocking_threads():
        t.join(max(deadline - time.monotonic(), 0))
    if not _blocking_threads():
        sys.exit(status)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)
