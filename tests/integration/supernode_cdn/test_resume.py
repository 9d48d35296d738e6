"""Broken streams against a real origin on 127.0.0.1:0 that drops connections mid-body."""

import hashlib
import pathlib
import random

import pytest

from common.pieces import META_SIZE

from .conftest import MIB, job_for, run
from .origin import Origin

PAYLOAD = MIB - META_SIZE
DATA = random.Random(3).randbytes(3 * PAYLOAD + 777)  # four pieces at 1 MiB
MD5 = hashlib.md5(DATA).hexdigest()


@pytest.fixture
def origin_factory():
    made = []

    def make(*args, **kw):
        o = Origin(*args, **kw)
        made.append(o)
        return o

    yield make
    for o in made:
        o.close()


def read_payloads(cdn, job):
    from common.pieces import unframe

    with open(cdn.path_of(job.task_id), "rb") as f:
        wrapped = f.read()
    ps = job.piece_size
    return b"".join(bytes(unframe(wrapped[i : i + ps], ps)) for i in range(0, len(wrapped), ps)), wrapped


def test_cut_stream_is_resumed_with_range(make_cdn, origin_factory):
    origin = origin_factory(DATA, cuts=[PAYLOAD + 1000, 500_000])  # two drops, then the rest
    cdn = make_cdn()
    job = job_for(origin.url, source_length=len(DATA))
    rec, result = run(cdn, job)
    assert result.success, result.error
    assert result.real_md5 == MD5 and result.source_bytes == len(DATA)
    payloads, wrapped = read_payloads(cdn, job)
    assert payloads == DATA
    assert [n for n, _, _ in rec.pieces] == [0, 1, 2, 3]  # each exactly once
    assert [m for _, m, _ in rec.pieces] == [
        hashlib.md5(wrapped[i : i + MIB]).hexdigest() for i in range(0, len(wrapped), MIB)
    ]
    gets = origin.gets()
    assert len(gets) == 3 and "Range" not in gets[0]
    assert gets[1]["Range"] == f"bytes={PAYLOAD + 1000}-" and gets[1]["If-Range"] == '"v1"'
    assert gets[2]["Range"] == f"bytes={PAYLOAD + 1000 + 500_000}-"


def test_cut_stream_without_range_support_restarts_cleanly(make_cdn, origin_factory):
    origin = origin_factory(DATA, ranges=False, cuts=[2 * PAYLOAD + 5])
    cdn = make_cdn()
    job = job_for(origin.url, source_length=len(DATA))
    rec, result = run(cdn, job)
    assert result.success, result.error
    assert read_payloads(cdn, job)[0] == DATA
    assert [n for n, _, _ in rec.pieces] == [0, 1, 2, 3]
    assert result.source_bytes == 2 * PAYLOAD + 5 + len(DATA)


def test_source_changed_between_resumes_fails(make_cdn, origin_factory):
    origin = origin_factory(DATA, cuts=[PAYLOAD + 10])
    cdn = make_cdn()
    job = job_for(origin.url, source_length=len(DATA))

    class Swap:
        pieces, results = [], []

        def on_piece(self, task_id, n, md5, size):
            self.pieces.append(n)
            origin.data, origin.etag = DATA[::-1], '"v2"'  # If-Range no longer matches: a 200 follows

        def on_done(self, task_id, result):
            self.results.append(result)

    import threading

    done = threading.Event()
    swap = Swap()
    swap.on_done = lambda t, r: (swap.results.append(r), done.set())
    cdn.start(job, swap)
    assert done.wait(20)
    (result,) = swap.results
    assert not result.success and "changed" in result.error
    assert swap.pieces == [0]


def test_too_many_breaks_fail(make_cdn, origin_factory, settings):
    origin = origin_factory(DATA, cuts=[1000] * 10)
    rec, result = run(make_cdn(), job_for(origin.url, source_length=len(DATA)))
    assert not result.success and "failed" in result.error
    assert len(origin.gets()) == settings.source_retries + 1


def test_unfinished_build_resumes_from_the_breakpoint(make_cdn, origin_factory):
    origin = origin_factory(DATA)
    cdn = make_cdn()
    job = job_for(origin.url, source_length=len(DATA))
    run(cdn, job)
    full = pathlib.Path(cdn.path_of(job.task_id)).read_bytes()
    # Simulate a crash after two pieces and a half: truncated data, unfinished meta, no .md5.
    with open(cdn.path_of(job.task_id), "r+b") as f:
        f.truncate(2 * MIB + 1234)
    meta = cdn.store.read_meta(job.task_id)
    cdn.store.write_meta(meta.replace(finish=False, success=False, real_md5="", file_length=0))
    import os

    os.unlink(cdn.store.md5_path(job.task_id))
    origin.requests.clear()

    rec, result = run(make_cdn(), job)
    assert result.success and not result.cache_hit and result.real_md5 == MD5
    assert result.source_bytes == len(DATA) - 2 * PAYLOAD
    assert pathlib.Path(cdn.path_of(job.task_id)).read_bytes() == full
    assert [n for n, _, _ in rec.pieces] == [0, 1, 2, 3]
    (get,) = origin.gets()
    assert get["Range"] == f"bytes={2 * PAYLOAD}-"


def test_breakpoint_with_changed_source_rebuilds(make_cdn, origin_factory):
    origin = origin_factory(DATA)
    cdn = make_cdn()
    job = job_for(origin.url)
    run(cdn, job)
    with open(cdn.path_of(job.task_id), "r+b") as f:
        f.truncate(2 * MIB)
    cdn.store.write_meta(cdn.store.read_meta(job.task_id).replace(finish=False, success=False))
    origin.data, origin.etag = DATA[::-1], '"v2"'
    rec, result = run(make_cdn(), job)
    assert result.success and result.real_md5 == hashlib.md5(DATA[::-1]).hexdigest()
    assert [n for n, _, _ in rec.pieces] == [0, 1, 2, 3]
    assert read_payloads(cdn, job)[0] == DATA[::-1]


def test_stalled_stream_times_out_and_resumes(settings, origin_factory):
    from common.shell.clock import SystemClock
    from supernode.cdn.manager import LocalCdn

    origin = origin_factory(DATA, cuts=[PAYLOAD // 2], stall=1.5)
    cdn = LocalCdn(settings.replace(source_read_timeout=0.3), clock=SystemClock(), sleep=lambda s: None)
    job = job_for(origin.url, source_length=len(DATA))
    rec, result = run(cdn, job)
    assert result.success, result.error
    assert read_payloads(cdn, job)[0] == DATA
    resumed_at = int(origin.gets()[1]["Range"][len("bytes=") : -1])
    assert 0 < resumed_at <= PAYLOAD // 2  # bytes lost inside a timed-out read are fetched again
    assert result.source_bytes == len(DATA)


def _crash_after_two_pieces(cdn, job):
    """What a supernode killed mid-build leaves: two and a bit pieces, an unfinished meta, no .md5."""
    import os

    with open(cdn.path_of(job.task_id), "r+b") as f:
        f.truncate(2 * MIB + 1234)
    meta = cdn.store.read_meta(job.task_id)
    cdn.store.write_meta(meta.replace(finish=False, success=False, real_md5="", file_length=0))
    os.unlink(cdn.store.md5_path(job.task_id))


@pytest.mark.parametrize("new_etag", ['"v2"', ""])
def test_resume_against_a_server_ignoring_if_range_never_mixes_versions(make_cdn, origin_factory, new_etag):
    """Attack (issue 11 item 7): the source changed (same size) while the supernode was down and
    answers the resume's Range with a 206 of the NEW content whatever If-Range says. The 206 must
    prove it is the stored version (same validator, same length); otherwise the build restarts
    from byte 0 and never serves half old, half new."""
    origin = origin_factory(DATA, honour_if_range=False)
    cdn = make_cdn()
    job = job_for(origin.url, source_length=len(DATA))
    run(cdn, job)
    _crash_after_two_pieces(cdn, job)
    changed = DATA[::-1]
    origin.data, origin.etag = changed, new_etag
    origin.requests.clear()

    rec, result = run(make_cdn(), job)
    assert result.success, result.error
    assert result.real_md5 == hashlib.md5(changed).hexdigest()
    assert read_payloads(cdn, job)[0] == changed
    assert [n for n, _, _ in rec.pieces] == [0, 1, 2, 3]
    stored = cdn.store.read_meta(job.task_id)
    assert stored.finish and stored.success and stored.etag == new_etag
    assert "Range" not in origin.gets()[-1]  # the accepted body was a whole one, from byte 0


def test_resume_against_a_server_ignoring_if_range_with_a_new_length_restarts(make_cdn, origin_factory):
    origin = origin_factory(DATA, honour_if_range=False, etag="")
    cdn = make_cdn()
    job = job_for(origin.url, source_length=len(DATA), md5=MD5)
    run(cdn, job)
    _crash_after_two_pieces(cdn, job)
    origin.data = DATA[::-1] + b"x"
    rec, result = run(make_cdn(), job)
    assert not result.success and "md5" in result.error  # the user's pin refuses the new content
    assert cdn.store.read_meta(job.task_id).success is False


def test_a_trickling_source_cannot_hold_a_build_running(settings, origin_factory):
    """Attack (issue 11 item 11): a source that sends a byte now and then never trips the read
    timeout, so the build stayed RUNNING for ever and task GC skipped it. Below sourceMinRate over
    a window of sourceReadTimeout the stream counts as broken; after sourceRetries the build fails."""
    from common.shell.clock import SystemClock
    from supernode.cdn.manager import LocalCdn

    origin = origin_factory(DATA, cuts=[1000] * 10, trickle=0.05)  # 20 B/s after the first 1000 bytes
    cdn = LocalCdn(
        settings.replace(source_read_timeout=0.5, source_min_rate=1024), clock=SystemClock(), sleep=lambda s: None
    )
    job = job_for(origin.url, source_length=len(DATA))
    rec, result = run(cdn, job)
    assert not result.success and "too slow" in result.error
    assert len(origin.gets()) == settings.source_retries + 1
    assert not cdn.is_building(job.task_id) and cdn.store.read_meta(job.task_id).finish  # failed, not running
