import threading

import pytest

from common.digest import task_id as make_task_id
from common.shell.clock import SystemClock
from common.source_access import Headers, SourceAccess
from supernode import settings as supernode_settings
from supernode.cdn.core.contract import CdnJob
from supernode.cdn.manager import LocalCdn

MIB = 1024 * 1024


class Recorder:
    """A CdnListener that logs every callback."""

    def __init__(self):
        self.pieces = []
        self.results = []
        self.done = threading.Event()

    def on_piece(self, task_id, piece_num, piece_md5, wrapped_len):
        self.pieces.append((piece_num, piece_md5, wrapped_len))

    def on_done(self, task_id, result):
        self.results.append(result)
        self.done.set()

    def wait(self, timeout=20):
        assert self.done.wait(timeout), "the CDN build did not finish in time"
        assert len(self.results) == 1
        return self.results[0]


@pytest.fixture
def settings(tmp_path):
    return supernode_settings.defaults(
        home_dir=str(tmp_path), source_probe_timeout=2, source_read_timeout=2, source_retries=3
    )


@pytest.fixture
def make_cdn(settings):
    made = []

    def make(**kw):
        kw.setdefault("clock", SystemClock())
        kw.setdefault("sleep", lambda s: None)
        cdn = LocalCdn(settings, **kw)
        made.append(cdn)
        return cdn

    yield make
    for cdn in made:
        cdn.source.close()


def job_for(url, piece_size=MIB, **kw):
    source = SourceAccess(url, Headers(kw.pop("headers", {})))
    return CdnJob(make_task_id(url, kw.get("md5", ""), kw.get("identifier", "")), source, piece_size, **kw)


def run(cdn, job):
    rec = Recorder()
    cdn.start(job, rec)
    return rec, rec.wait()
