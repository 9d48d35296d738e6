"""`downloadServer: external` (docs/operations.md#an-external-download-server-nginx): the CDN
files laid out as v1 lays them out, for a static server rooted at `<home>/repo`.

The store lives in `<home>/cdn` (mode 0700, supernode.layout). `<home>/repo/download/<p>/<id>`
is a hard link to a task's data file, made before the supernode announces the task's first
piece (so before any client can be sent there) and removed when the task leaves memory (task
GC, retirement, deletion): the static tree holds exactly the files the builtin server would
serve, byte for byte, since it is the same inode the build writes into. The core never builds
a credentialed task in this mode (supernode.core.static_download), so nothing private is ever
linked. Directories of the tree are 0711: a static server can open a file whose name it knows,
but nobody can list which tasks are cached. Hard links, not symlinks: a static server that
follows symlinks gains nothing, and only regular files are ever put in the tree.
"""

import logging
import os
import stat

from supernode import layout
from supernode.cdn.manager import LocalCdn
from supernode.cdn.store import valid_task_id

log = logging.getLogger(__name__)

TREE_MODE = 0o711  # traversable, not listable
PRIVATE_MODE = 0o700
FILE_MODE = 0o644  # a published task is public: readable by the static server's user


def local_cdn(settings, **kwargs) -> LocalCdn:
    """The CDN for the configured download server, after moving cache files left by the other
    mode into its store (a switch keeps the cache and leaves nothing stale in the static tree)."""
    home = settings.home_dir
    builtin_store = layout.store_root(home, layout.BUILTIN)
    external_store = layout.store_root(home, layout.EXTERNAL)
    if settings.download_server != layout.EXTERNAL:
        adopt(external_store, builtin_store)
        return LocalCdn(settings, **kwargs)
    os.makedirs(external_store, exist_ok=True)
    os.chmod(layout.private_home(home), PRIVATE_MODE)
    adopt(layout.static_root(home), external_store)
    return StaticTreeCdn(settings, **kwargs)


def adopt(src_root: str, dst_root: str) -> None:
    """Move every task file (data, .meta, .md5) from `src_root` into `dst_root`. One already in
    `dst_root` wins (in the static tree it is usually a link to it); non-regular files go."""
    if not os.path.isdir(src_root):
        return
    for prefix in os.listdir(src_root):
        src_dir = os.path.join(src_root, prefix)
        if not os.path.isdir(src_dir) or os.path.islink(src_dir):
            continue
        for name in os.listdir(src_dir):
            if not valid_task_id(name.split(".", 1)[0]) or name.split(".", 1)[0][:3] != prefix:
                continue
            src, dst = os.path.join(src_dir, name), os.path.join(dst_root, prefix, name)
            try:
                if stat.S_ISREG(os.lstat(src).st_mode) and not os.path.lexists(dst):
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    os.rename(src, dst)
                else:
                    os.unlink(src)
            except OSError as e:
                log.warning("cannot move cache file %s to %s: %s", src, dst, e)
        try:
            os.rmdir(src_dir)
        except OSError:
            pass


class StaticTree:
    """Publishes data files of `store` (a TaskStore) as hard links under `root`."""

    def __init__(self, root: str, store):
        self.root, self.store = root, store
        os.makedirs(root, exist_ok=True)
        os.chmod(root, TREE_MODE)

    def path(self, task_id: str) -> str:
        self.store.data_path(task_id)  # BadInput for anything but a task id
        return os.path.join(self.root, task_id[:3], task_id)

    def publish(self, task_id: str) -> None:
        """Link the data file into the tree (atomically replacing a stale link); idempotent."""
        src, dst = self.store.data_path(task_id), self.path(task_id)
        st = os.stat(src)
        try:
            if os.path.samestat(st, os.lstat(dst)):
                return
        except FileNotFoundError:
            pass
        os.chmod(src, FILE_MODE)
        directory = os.path.dirname(dst)
        os.makedirs(directory, exist_ok=True)
        os.chmod(directory, TREE_MODE)
        tmp = os.path.join(directory, f".{task_id}.{os.getpid()}.link")
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os.link(src, tmp)
        os.replace(tmp, dst)

    def withdraw(self, task_id: str) -> None:
        dst = self.path(task_id)
        try:
            os.unlink(dst)
        except FileNotFoundError:
            return
        try:
            os.rmdir(os.path.dirname(dst))
        except OSError:
            pass


class _PublishFirst:
    """Wraps a build's listener: the file is in the tree before the first piece is announced."""

    def __init__(self, listener, tree: StaticTree):
        self.listener, self.tree, self.published = listener, tree, False

    def on_piece(self, task_id: str, piece_num: int, piece_md5: str, wrapped_len: int) -> None:
        if not self.published:
            self.tree.publish(task_id)  # raising here keeps the piece unannounced (logged by the CDN)
            self.published = True
        self.listener.on_piece(task_id, piece_num, piece_md5, wrapped_len)

    def on_done(self, task_id: str, result) -> None:
        self.listener.on_done(task_id, result)


class StaticTreeCdn(LocalCdn):
    """LocalCdn whose files of tasks in memory are also laid out for a static server."""

    def __init__(self, settings, **kwargs):
        super().__init__(settings, **kwargs)
        self.tree = StaticTree(layout.static_root(settings.home_dir), self.store)

    def start(self, job, listener) -> None:
        super().start(job, _PublishFirst(listener, self.tree))

    def forget(self, task_id: str) -> None:
        self.tree.withdraw(task_id)
        super().forget(task_id)

    def delete(self, task_id: str) -> None:
        self.tree.withdraw(task_id)
        super().delete(task_id)
