"""The CDN's files on disk (docs/protocol.md#files-on-disk-shared-across-programs): `<root>/<taskId[0:3]>/<taskId>`
holds the
framed pieces (piece n at n*pieceSize), next to `<taskId>.meta` (JSON) and `<taskId>.md5`; `<root>` is
`<home>/repo/download`, or
`<home>/cdn/download` with an external download server (supernode.layout).

.meta and .md5 are written atomically (temp file + rename). Readers treat anything unreadable
or malformed as absent. Only names that are 64 lowercase hex digits are ever task files.
"""

import hashlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from common.errors import BadInput
from common.shell.files import remove_file
from supernode.cdn.core.contract import DiskEntry
from supernode.cdn.core.records import FileMeta, format_md5_file, parse_md5_file

log = logging.getLogger(__name__)

TASK_ID = re.compile(r"^[0-9a-f]{64}$")
READ_CHUNK = 256 * 1024


def valid_task_id(task_id: str) -> bool:
    return bool(TASK_ID.match(task_id or ""))


class TaskStore:
    def __init__(self, root: str):
        """`root`: supernode.layout.store_root (the `download` directory)."""
        self.root = root
        os.makedirs(self.root, exist_ok=True)

    # -- paths -----------------------------------------------------------------------------
    def data_path(self, task_id: str) -> str:
        if not valid_task_id(task_id):
            raise BadInput(f"invalid task id {task_id!r}")
        return os.path.join(self.root, task_id[:3], task_id)

    def meta_path(self, task_id: str) -> str:
        return self.data_path(task_id) + ".meta"

    def md5_path(self, task_id: str) -> str:
        return self.data_path(task_id) + ".md5"

    # -- data ------------------------------------------------------------------------------
    def data_stat(self, task_id: str) -> "os.stat_result | None":
        try:
            return os.stat(self.data_path(task_id))
        except OSError:
            return None

    def open_for_build(self, task_id: str, keep: int) -> BinaryIO:
        """The data file opened for writing pieces, truncated to its first `keep` bytes."""
        path = self.data_path(task_id)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        f = open(path, "r+b" if os.path.exists(path) else "w+b")  # noqa: SIM115 - the caller owns it
        f.truncate(keep)
        return f

    def read_range(self, task_id: str, start: int, length: int) -> bytes:
        """Up to `length` bytes from `start` ("" if the file is missing)."""
        try:
            with open(self.data_path(task_id), "rb") as f:
                f.seek(start)
                return f.read(length)
        except OSError:
            return b""

    def iter_pieces(self, task_id: str, piece_size: int) -> Iterator[bytes]:
        """Every framed piece of the data file, in order (the last may be short)."""
        with open(self.data_path(task_id), "rb") as f:
            while True:
                data = f.read(piece_size)
                if not data:
                    return
                yield data

    def piece_md5(self, task_id: str, num: int, piece_size: int) -> str:
        data = self.read_range(task_id, num * piece_size, piece_size)
        return hashlib.md5(data).hexdigest() if data else ""

    # -- .meta / .md5 ----------------------------------------------------------------------
    def read_meta(self, task_id: str) -> "FileMeta | None":
        try:
            with open(self.meta_path(task_id), "rb") as f:
                return FileMeta.from_json(f.read())
        except FileNotFoundError:
            return None
        except (OSError, BadInput) as e:
            log.warning("ignoring unreadable meta task=%s error=%s", task_id, e)
            return None

    def write_meta(self, meta: FileMeta) -> None:
        self._atomic_write(self.meta_path(meta.task_id), meta.to_json())

    def read_md5s(self, task_id: str, file_md5: "str | None" = None) -> "list[tuple[str, int]] | None":
        try:
            with open(self.md5_path(task_id), encoding="utf-8", errors="replace") as f:
                pieces = parse_md5_file(f.read(), file_md5)
        except OSError:
            return None
        if pieces is None:
            log.warning("ignoring a .md5 file that fails its checks task=%s", task_id)
        return pieces

    def write_md5s(self, task_id: str, pieces: "list[tuple[str, int]]", file_md5: str) -> None:
        self._atomic_write(self.md5_path(task_id), format_md5_file(pieces, file_md5))

    def _atomic_write(self, path: str, text: str) -> None:
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            remove_file(tmp)
            raise

    # -- housekeeping ----------------------------------------------------------------------
    def delete(self, task_id: str) -> None:
        """Remove data, .meta and .md5, and the prefix directory if it became empty."""
        path = self.data_path(task_id)
        for p in (path, path + ".meta", path + ".md5"):
            remove_file(p)
        try:
            os.rmdir(os.path.dirname(path))
        except OSError:
            pass

    def has_data(self, task_id: str) -> bool:
        return valid_task_id(task_id) and os.path.isfile(self.data_path(task_id))

    def task_ids(self) -> Iterator[str]:
        try:
            prefixes = os.listdir(self.root)
        except OSError:
            return
        for prefix in prefixes:
            try:
                names = os.listdir(os.path.join(self.root, prefix))
            except OSError:
                continue
            for name in names:
                if valid_task_id(name) and name[:3] == prefix:
                    yield name

    def disk_entries(self) -> "list[DiskEntry]":
        out = []
        for task_id in self.task_ids():
            st = self.data_stat(task_id)
            if st is None:
                continue
            meta = self.read_meta(task_id)
            access = meta.access_time / 1000 if meta and meta.access_time > 0 else st.st_mtime
            interval = meta.interval / 1000 if meta else 0.0
            out.append(DiskEntry(task_id, st.st_size, access, interval))
        return out

    def free_space(self) -> int:
        return shutil.disk_usage(self.root).free
