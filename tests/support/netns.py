"""A private network namespace for e2e tests, for programs that bind every interface (v1's Go
supernode has no listen-address flag): loopback only, nothing reaches the host's network.

`Netns.run(fn, ...)` calls `fn` on a thread that has entered the namespace (setns(2) moves only
the calling thread): the sockets it opens and the processes it starts live there. A holder
process (`unshare -n`) keeps the namespace until `close()`, which ends it by its PID.
"""

import ctypes
import os
import shutil
from concurrent.futures import ThreadPoolExecutor

from tests.support.dfget_runs import end_pids
from tests.support.procs import Proc, wait_until

CLONE_NEWNET = 0x40000000


class NetnsUnavailable(RuntimeError):
    """No namespace here (not root, no unshare/ip): tests skip with this reason."""


def _enter(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns failed")


class Netns:
    def __init__(self, log_path: str):
        if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("ip")):
            raise NetnsUnavailable("a private network namespace needs root, unshare and ip")
        self.holder = Proc(
            ["unshare", "-n", "sh", "-c", "ip link set lo up && echo up && exec sleep 3600"], log_path=log_path
        )
        try:
            wait_until(lambda: "up" in self.holder.output() or not self.holder.alive(), 30, "the namespace")
            if not self.holder.alive():
                raise NetnsUnavailable(f"unshare -n failed: {self.holder.output()[-300:]}")
            self._fd = os.open(f"/proc/{self.holder.pid}/ns/net", os.O_RDONLY)
        except BaseException:
            self.holder.stop()
            raise
        self._thread = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="netns", initializer=_enter, initargs=(self._fd,)
        )
        try:
            self.run(lambda: None)
        except OSError as e:
            self.close()
            raise NetnsUnavailable(f"cannot enter the namespace: {e}") from None

    def run(self, fn, *args, **kwargs):
        return self._thread.submit(fn, *args, **kwargs).result()

    def pids_inside(self) -> "list[int]":
        """Every process in the namespace but the holder (what a test left behind, e.g. the
        upload servers a Go dfget started), found by its namespace and ended by its PID."""
        ours = os.readlink(f"/proc/{self.holder.pid}/ns/net")
        found = []
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) != self.holder.pid:
                try:
                    if os.readlink(f"/proc/{name}/ns/net") == ours:
                        found.append(int(name))
                except OSError:
                    continue
        return found

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        os.close(self._fd)
        try:
            end_pids(self.pids_inside())
        finally:
            self.holder.stop()
