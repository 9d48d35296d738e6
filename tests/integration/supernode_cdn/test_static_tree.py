"""The static tree of `downloadServer: external` (supernode/cdn/static_tree.py): the laid-out file
is there before the first piece is announced, is the very file the build writes, goes with the
task, and a mode switch moves the cache instead of leaving it in (or out of) the served tree."""

import os
import random
import stat

import pytest
import responses

from common.shell.clock import SystemClock
from supernode import layout
from supernode import settings as supernode_settings
from supernode.cdn.manager import LocalCdn
from supernode.cdn.static_tree import StaticTreeCdn, local_cdn

from .conftest import MIB, Recorder, job_for

URL = "http://origin.test/file.bin"
DATA = random.Random(3).randbytes(2 * MIB + 77)


@pytest.fixture
def source():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(URL, body=DATA)
        yield rsps


def _cdn(home, mode):
    settings = supernode_settings.defaults(
        home_dir=str(home), download_server=mode, source_probe_timeout=2, source_read_timeout=2
    )
    return local_cdn(settings, clock=SystemClock(), sleep=lambda s: None)


class LinkChecker(Recorder):
    """Records, at each announced piece, whether the tree already had that very file."""

    def __init__(self, cdn):
        super().__init__()
        self.cdn, self.linked = cdn, []

    def on_piece(self, task_id, piece_num, piece_md5, wrapped_len):
        tree = self.cdn.tree.path(task_id)
        self.linked.append(os.path.exists(tree) and os.path.samefile(tree, self.cdn.path_of(task_id)))
        super().on_piece(task_id, piece_num, piece_md5, wrapped_len)


def test_external_lays_out_the_build_before_announcing_and_withdraws_it(tmp_path, source):
    cdn = _cdn(tmp_path, layout.EXTERNAL)
    assert isinstance(cdn, StaticTreeCdn)
    job = job_for(URL, source_length=len(DATA))
    rec = LinkChecker(cdn)
    cdn.start(job, rec)
    assert rec.wait().success and rec.linked == [True, True, True]
    tree = cdn.tree.path(job.task_id)
    assert cdn.path_of(job.task_id).startswith(str(tmp_path / "cdn" / "download"))
    with open(tree, "rb") as a, open(cdn.path_of(job.task_id), "rb") as b:
        assert a.read() == b.read()
    assert stat.S_IMODE(os.stat(os.path.dirname(tree)).st_mode) == 0o711
    assert stat.S_IMODE(os.stat(tmp_path / "cdn").st_mode) == 0o700
    cdn.forget(job.task_id)  # task GC: the cache stays, the tree does not
    assert not os.path.exists(tree) and cdn.has_data(job.task_id)
    rec = LinkChecker(cdn)
    cdn.start(job, rec)  # a cache hit is laid out again
    assert rec.wait().cache_hit and all(rec.linked)
    cdn.delete(job.task_id)
    assert not os.path.exists(tree) and not cdn.has_data(job.task_id)
    cdn.source.close()


def test_a_mode_switch_moves_the_cache_and_empties_the_served_tree(tmp_path, source):
    builtin = _cdn(tmp_path, layout.BUILTIN)
    assert type(builtin) is LocalCdn
    job = job_for(URL, source_length=len(DATA))
    rec = Recorder()
    builtin.start(job, rec)
    assert rec.wait().success
    builtin.source.close()
    served = os.path.join(layout.static_root(str(tmp_path)), job.task_id[:3], job.task_id)
    assert os.path.exists(served + ".meta")

    external = _cdn(tmp_path, layout.EXTERNAL)  # .meta (the URL) and the data leave the served tree
    assert not os.path.exists(served) and not os.path.exists(served + ".meta")
    rec = Recorder()
    external.start(job, rec)
    assert rec.wait().cache_hit and os.path.exists(served)
    external.source.close()

    back = _cdn(tmp_path, layout.BUILTIN)  # a crash left a link behind: the store's copy wins
    assert back.has_data(job.task_id) and not os.listdir(layout.store_root(str(tmp_path), layout.EXTERNAL))
    rec = Recorder()
    back.start(job, rec)
    assert rec.wait().cache_hit
    back.source.close()


def test_a_symlink_planted_in_the_served_tree_is_removed_not_adopted(tmp_path):
    task_id = "a" * 64
    d = os.path.join(layout.static_root(str(tmp_path)), task_id[:3])
    os.makedirs(d)
    os.symlink("/etc/passwd", os.path.join(d, task_id))
    cdn = _cdn(tmp_path, layout.EXTERNAL)
    assert not os.path.lexists(os.path.join(d, task_id)) and not cdn.has_data(task_id)
    cdn.source.close()
