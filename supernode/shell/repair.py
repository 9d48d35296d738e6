"""Piece-error repair (docs/architecture.md#background-work): a client says a piece the supernode served is missing or
corrupt.

At most one check per task is in flight; it runs in the background (it reads the disk). A missing
data file, or a piece whose md5 on disk matches neither the recorded md5 nor the client's
expectation, drops the task together with its files so the next registration rebuilds it.
"""

import logging
import threading

from common.protocol.codes import ClientErrorType

log = logging.getLogger(__name__)


def md5_part(text: str) -> str:
    """`md5:len` -> `md5`."""
    return (text or "").partition(":")[0]


class PieceRepair:
    def __init__(self, cdn, spawn, drop_task):
        self._cdn, self._spawn, self._drop_task = cdn, spawn, drop_task
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()

    def request(self, effect) -> None:
        with self._lock:
            if effect.task_id in self._in_flight:
                return
            self._in_flight.add(effect.task_id)
        self._spawn(self._run, effect)

    def broken(self, effect) -> bool:
        if effect.error_type == ClientErrorType.FILE_NOT_EXIST.value:
            return not self._cdn.has_data(effect.task_id)
        if effect.error_type == ClientErrorType.FILE_MD5_NOT_MATCH.value:
            disk, recorded = (
                md5_part(m) for m in self._cdn.check_piece(effect.task_id, effect.piece, effect.piece_size)
            )
            return disk != recorded and disk != md5_part(effect.expected_md5)
        return False

    def _run(self, effect) -> None:
        try:
            if self.broken(effect):
                log.warning(
                    "cdn file broken, dropping task task=%s piece=%s type=%s",
                    effect.task_id,
                    effect.piece,
                    effect.error_type,
                )
                self._drop_task(effect.task_id)
        except Exception:
            log.exception("piece repair failed task=%s piece=%s", effect.task_id, effect.piece)
        finally:
            with self._lock:
                self._in_flight.discard(effect.task_id)
