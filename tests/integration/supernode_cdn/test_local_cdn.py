import hashlib
import pathlib
import random
import threading

import pytest
import responses

from common.pieces import META_SIZE, unframe
from common.source_access import Headers, SourceAccess, Tls

from .conftest import MIB, job_for, run

URL = "http://origin.test/file.bin"
PAYLOAD = MIB - META_SIZE
DATA = random.Random(7).randbytes(2 * PAYLOAD + 1234)  # three pieces at 1 MiB
MD5 = hashlib.md5(DATA).hexdigest()


def assert_file(cdn, job, data=DATA):
    with open(cdn.path_of(job.task_id), "rb") as f:
        wrapped = f.read()
    ps = job.piece_size
    assert b"".join(bytes(unframe(wrapped[i : i + ps], ps)) for i in range(0, len(wrapped), ps)) == data
    return wrapped


def assert_pieces(rec, wrapped, ps=MIB):
    expected = [
        (n, hashlib.md5(wrapped[n * ps : (n + 1) * ps]).hexdigest(), len(wrapped[n * ps : (n + 1) * ps]))
        for n in range((len(wrapped) + ps - 1) // ps)
    ]
    assert rec.pieces == expected


@pytest.fixture
def source():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def gets(source):
    return [c for c in source.calls if c.request.method == "GET"]


# -- probe ---------------------------------------------------------------------------------


def test_probe_with_head(make_cdn, source):
    source.head(
        URL,
        headers={
            "Content-Length": "42",
            "Accept-Ranges": "bytes",
            "ETag": '"e"',
            "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT",
        },
    )
    p = make_cdn().probe(SourceAccess(URL, Headers({"X-Token": "t"})))
    assert (p.status, p.length, p.supports_range, p.etag) == (200, 42, True, '"e"')
    assert p.last_modified == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert source.calls[0].request.headers["X-Token"] == "t"
    assert source.calls[0].request.headers["Accept-Encoding"] == "identity"


@pytest.mark.parametrize("head_status", [405, 501])
def test_probe_falls_back_to_range_get(make_cdn, source, head_status):
    source.head(URL, status=head_status)
    source.get(URL, status=206, body=b"x", headers={"Content-Range": "bytes 0-0/5000"})
    p = make_cdn().probe(SourceAccess(URL))
    assert (p.status, p.length, p.supports_range) == (206, 5000, True)
    assert source.calls[1].request.headers["Range"] == "bytes=0-0"


def test_probe_falls_back_when_head_has_no_length(make_cdn, source):
    source.head(URL, status=200, headers={"Transfer-Encoding": "chunked"})
    source.get(URL, status=200, body=b"hello", headers={"Content-Length": "5"})
    p = make_cdn().probe(SourceAccess(URL))
    assert (p.status, p.length, p.supports_range) == (200, 5, False)


def test_probe_statuses_and_transport_errors(make_cdn, source):
    source.head(URL, status=404)
    source.head("http://origin.test/auth", status=401)
    cdn = make_cdn()
    assert cdn.probe(SourceAccess(URL)).not_found
    assert cdn.probe(SourceAccess("http://origin.test/auth")).needs_auth
    broken = cdn.probe(SourceAccess("http://nowhere.test/x"))  # not stubbed: ConnectionError
    assert broken.status == 0 and broken.error


# -- builds --------------------------------------------------------------------------------


def test_build_from_scratch(make_cdn, source):
    source.get(URL, body=DATA, headers={"ETag": '"v1"', "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT"})
    cdn = make_cdn()
    job = job_for(URL, source_length=len(DATA))
    rec, result = run(cdn, job)
    assert result.success and not result.cache_hit and result.real_md5 == MD5
    assert (result.source_length, result.piece_count, result.source_bytes) == (len(DATA), 3, len(DATA))
    assert result.file_length == len(DATA) + 3 * META_SIZE
    wrapped = assert_file(cdn, job)
    assert_pieces(rec, wrapped)
    meta = cdn.store.read_meta(job.task_id)
    assert (meta.finish, meta.success, meta.real_md5, meta.etag) == (True, True, MD5, '"v1"')
    assert meta.last_modified == 1445412480000 and meta.file_length == len(wrapped)
    assert cdn.store.read_md5s(job.task_id, MD5) == [(m, n) for _, m, n in rec.pieces]
    assert cdn.check_piece(job.task_id, 1, MIB) == (rec.pieces[1][1], rec.pieces[1][1])
    assert gets(source)[0].request.headers["Accept-Encoding"] == "identity"


def test_empty_source_is_one_piece(make_cdn, source):
    source.get(URL, body=b"")
    rec, result = run(make_cdn(), job_for(URL, source_length=0))
    assert result.success and result.piece_count == 1 and result.file_length == META_SIZE
    assert [(n, size) for n, _, size in rec.pieces] == [(0, META_SIZE)]


def test_source_404_is_a_source_error(make_cdn, source):
    source.get(URL, status=404)
    cdn = make_cdn()
    job = job_for(URL)
    rec, result = run(cdn, job)
    assert not result.success and result.source_error and rec.pieces == []
    assert len(gets(source)) == 1  # a 4xx is not retried
    meta = cdn.store.read_meta(job.task_id)
    assert meta.finish and not meta.success


def test_user_md5_mismatch_fails_as_the_sources_fault_naming_both_md5s(make_cdn, source):
    """The source's bytes are not the ones the user asked for: no other supernode would do better
    (source_error: clients are told 610 and go to the source at once, not migrate)."""
    source.get(URL, body=DATA)
    wanted = hashlib.md5(b"something else").hexdigest()
    rec, result = run(make_cdn(), job_for(URL, md5=wanted))
    assert not result.success and result.source_error
    assert "md5 mismatch" in result.error and wanted in result.error and MD5 in result.error


def test_user_md5_match_succeeds(make_cdn, source):
    source.get(URL, body=DATA)
    rec, result = run(make_cdn(), job_for(URL, md5=MD5))
    assert result.success and result.real_md5 == MD5


def test_short_body_against_known_length_is_retried_then_fails(make_cdn, source, settings):
    source.get(URL, body=DATA[:1000], headers={"ETag": '"v1"'})  # responses: a 200 that never resumes
    job = job_for(URL, source_length=len(DATA))
    rec, result = run(make_cdn(), job)
    assert not result.success
    assert len(gets(source)) == settings.source_retries + 1


def test_5xx_is_retried(make_cdn, source):
    source.get(URL, status=503)
    source.get(URL, body=DATA)
    rec, result = run(make_cdn(), job_for(URL))
    assert result.success and len(gets(source)) == 2


# -- cache ---------------------------------------------------------------------------------


def test_second_start_is_a_cache_hit_keeping_real_md5(make_cdn, source):
    source.get(URL, body=DATA)
    cdn = make_cdn()
    job = job_for(URL, source_length=len(DATA))
    first, _ = run(cdn, job)
    cdn.forget(job.task_id)
    again = make_cdn()  # a fresh process: nothing in memory
    again.store.iter_pieces = None  # the stored .md5 list is used, no re-read
    rec, result = run(again, job)
    assert result.success and result.cache_hit and result.real_md5 == MD5 and result.source_bytes == 0
    assert rec.pieces == first.pieces
    assert len(gets(source)) == 1


def test_cache_hit_recomputes_a_corrupt_md5_list(make_cdn, source):
    source.get(URL, body=DATA)
    cdn = make_cdn()
    job = job_for(URL, source_length=len(DATA))
    first, _ = run(cdn, job)
    with open(cdn.store.md5_path(job.task_id), "a") as f:
        f.write("garbage")
    rec, result = run(make_cdn(), job)
    assert result.cache_hit and rec.pieces == first.pieces
    assert cdn.store.read_md5s(job.task_id, MD5) is not None  # rewritten


def test_corrupt_data_is_rebuilt(make_cdn, source):
    source.get(URL, body=DATA)
    cdn = make_cdn()
    job = job_for(URL, source_length=len(DATA))
    run(cdn, job)
    path = cdn.path_of(job.task_id)
    with open(path, "r+b") as f:
        f.seek(MIB + 100)
        f.write(b"\0" * 10)
    import os

    os.unlink(cdn.store.md5_path(job.task_id))
    rec, result = run(make_cdn(), job)
    assert result.success and not result.cache_hit and len(gets(source)) == 2
    assert_file(cdn, job)


def test_revalidation_304_is_a_hit_and_200_rebuilds(make_cdn, source):
    source.get(URL, body=DATA, headers={"ETag": '"v1"'})
    cdn = make_cdn()
    job = job_for(URL, source_length=len(DATA))
    run(cdn, job)
    source.head(URL, status=304)
    rec, result = run(make_cdn(), job)
    assert result.cache_hit
    head = [c for c in source.calls if c.request.method == "HEAD"][-1]
    assert head.request.headers["If-None-Match"] == '"v1"'
    assert len(gets(source)) == 1

    source.replace(responses.HEAD, URL, status=200, headers={"ETag": '"v2"'})
    new_data = DATA[::-1]
    source.replace(responses.GET, URL, body=new_data, headers={"ETag": '"v2"'})
    rec, result = run(make_cdn(), job)
    assert result.success and not result.cache_hit and result.real_md5 == hashlib.md5(new_data).hexdigest()
    assert_file(cdn, job, new_data)
    assert cdn.store.read_meta(job.task_id).etag == '"v2"'


def test_no_validators_is_not_refetched_within_ttl(make_cdn, source):
    import time

    from common.shell.clock import FakeClock

    source.get(URL, body=DATA)
    clock = FakeClock(time.time())
    job = job_for(URL, source_length=len(DATA))
    run(make_cdn(clock=clock), job)
    _, result = run(make_cdn(clock=clock), job)
    assert result.cache_hit and len(gets(source)) == 1
    clock.advance(2 * 3600)
    _, result = run(make_cdn(clock=clock), job)
    assert result.success and not result.cache_hit and len(gets(source)) == 2


def test_concurrent_start_makes_one_source_get(make_cdn, source):
    gate = threading.Event()

    def slow(request):
        gate.wait(10)
        return 200, {}, DATA

    source.add_callback(responses.GET, URL, callback=slow)
    cdn = make_cdn()
    job = job_for(URL, source_length=len(DATA))
    from .conftest import Recorder

    recs = [Recorder() for _ in range(3)]
    for r in recs:
        cdn.start(job, r)
    assert cdn.is_building(job.task_id)
    gate.set()
    results = [r.wait() for r in recs]
    assert all(r.success and not r.cache_hit for r in results)
    assert len(gets(source)) == 1
    assert recs[0].pieces == recs[1].pieces == recs[2].pieces and len(recs[0].pieces) == 3


def test_join_after_pieces_replays_them(make_cdn, source):
    from .conftest import Recorder

    cdn = make_cdn()
    job = job_for(URL, source_length=len(DATA))
    late = Recorder()
    gate, joined = threading.Event(), threading.Event()

    class First(Recorder):
        def on_piece(self, task_id, num, md5, size):
            super().on_piece(task_id, num, md5, size)
            if num == 0:
                gate.set()
                joined.wait(10)

    first = First()
    source.get(URL, body=DATA)
    cdn.start(job, first)
    assert gate.wait(10)
    threading.Thread(target=lambda: (cdn.start(job, late), joined.set())).start()
    assert first.wait().success and late.wait().success
    assert late.pieces == first.pieces and len(gets(source)) == 1


def test_delete_and_disk_entries(make_cdn, source):
    source.get(URL, body=DATA)
    cdn = make_cdn()
    job = job_for(URL)
    run(cdn, job)
    (entry,) = cdn.disk_entries()
    assert entry.task_id == job.task_id and entry.size == len(DATA) + 3 * META_SIZE and entry.access_time > 0
    assert cdn.has_data(job.task_id) and cdn.free_space() > 0
    cdn.delete(job.task_id)
    assert not cdn.has_data(job.task_id) and cdn.disk_entries() == []
    assert cdn.store.read_meta(job.task_id) is None
    assert cdn.check_piece(job.task_id, 0, MIB) == ("", "")


def test_check_piece_sees_corruption(make_cdn, source):
    source.get(URL, body=DATA)
    cdn = make_cdn()
    job = job_for(URL)
    rec, _ = run(cdn, job)
    with open(cdn.path_of(job.task_id), "r+b") as f:
        f.seek(10)
        f.write(b"corrupt")
    disk, recorded = cdn.check_piece(job.task_id, 0, MIB)
    assert recorded == rec.pieces[0][1] and disk != recorded
    cdn.forget(job.task_id)  # from the .md5 file now
    assert make_cdn().check_piece(job.task_id, 0, MIB) == (disk, recorded)


def test_task_with_its_own_range_stores_that_range(make_cdn, source):
    part = DATA[100 : 100 + 5000]
    source.get(
        URL,
        status=206,
        body=part,
        headers={"Content-Range": f"bytes 100-5099/{len(DATA)}", "Content-Length": str(len(part))},
    )
    job = job_for(URL, headers={"Range": "bytes=100-5099"}, source_length=len(part))
    cdn = make_cdn()
    rec, result = run(cdn, job)
    assert result.success and result.source_length == len(part), result.error
    assert gets(source)[0].request.headers["Range"] == "bytes=100-5099"
    assert_file(cdn, job, part)


def test_source_rate_limit_paces_the_build(settings, source):
    from common.shell.clock import FakeClock
    from supernode.cdn.manager import LocalCdn

    source.get(URL, body=DATA)
    clock = FakeClock()
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock.advance(seconds)

    limited = settings.replace(max_bandwidth=2 * MIB, system_reserved_bandwidth=MIB)  # 1 MiB/s for sources
    cdn = LocalCdn(limited, clock=clock, sleep=sleep)
    rec, result = run(cdn, job_for(URL))
    assert result.success
    burst = 64 * 1024
    assert sum(slept) == pytest.approx((len(DATA) - burst) / MIB, rel=0.01)


def test_start_refuses_bad_ids_and_piece_sizes(make_cdn):
    from common.errors import BadInput
    from supernode.cdn.core.contract import CdnJob

    from .conftest import Recorder

    cdn = make_cdn()
    with pytest.raises(BadInput):
        cdn.start(CdnJob("../../etc", SourceAccess(URL), MIB), Recorder())
    with pytest.raises(BadInput):
        cdn.start(CdnJob("a" * 64, SourceAccess(URL), 1000), Recorder())


def test_tls_options_choose_verify(make_cdn, source, settings):
    import base64
    import os

    seen = []

    def head(request):
        verify = request.req_kwargs["verify"]
        seen.append((verify, pathlib.Path(verify).read_text().strip() if isinstance(verify, str) else None))
        return 200, {"Content-Length": "1"}, b""

    source.add_callback(responses.HEAD, "https://origin.test/f", callback=head)
    cdn = make_cdn()
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    cas = (base64.b64encode(pem.encode()).decode(),)
    cdn.probe(SourceAccess("https://origin.test/f"))
    cdn.probe(SourceAccess("https://origin.test/f", tls=Tls(insecure=True)))
    cdn.probe(SourceAccess("https://origin.test/f", tls=Tls(root_cas=cas)))
    assert seen[0][0] not in (False, None) and seen[1][0] is False  # True, or requests' env CA bundle
    assert seen[2][0].startswith(os.path.join(settings.home_dir, "tls")) and seen[2][1] == pem
    assert cdn.source.sessions.ca_files() == []  # the PEM file lived only while the request connected


def test_per_request_root_cas_leave_no_files_and_a_bounded_session_pool(make_cdn, source, settings):
    """Attack (issue 11 item 11): every registration brings its own rootCAs; each used to leave a
    file in <home>/tls and a session in memory for ever."""
    import base64

    from supernode.cdn.sessions import MAX_SESSIONS

    source.head("https://origin.test/f", headers={"Content-Length": "1"})
    cdn = make_cdn()
    for i in range(5 * MAX_SESSIONS):
        pem = f"-----BEGIN CERTIFICATE-----\nMIIB{i}\n-----END CERTIFICATE-----"
        cas = (base64.b64encode(pem.encode()).decode(),)
        assert cdn.probe(SourceAccess("https://origin.test/f", tls=Tls(root_cas=cas))).status == 200
    assert cdn.source.sessions.ca_files() == []
    assert len(cdn.source.sessions) == MAX_SESSIONS


def test_stale_ca_files_of_a_crash_are_removed_at_start(make_cdn, settings):
    import os

    os.makedirs(os.path.join(settings.home_dir, "tls"))
    open(os.path.join(settings.home_dir, "tls", "ca-0123456789abcdef.pem"), "w").close()
    assert make_cdn().source.sessions.ca_files() == []


def test_probe_follows_redirects(make_cdn, source):
    source.head(URL, status=302, headers={"Location": "http://mirror.test/file.bin"})
    source.head("http://mirror.test/file.bin", headers={"Content-Length": "9"})
    p = make_cdn().probe(SourceAccess(URL))
    assert (p.status, p.length) == (200, 9)


def test_a_redirect_to_another_host_carries_no_credential_headers(make_cdn, source):
    """Attack: the source the user named redirects to a host the user never named; v1 (and
    requests) forwarded every header but Authorization there, X-JFrog-Art-Api included."""
    source.head(URL, status=302, headers={"Location": "http://elsewhere.test/file.bin"})
    source.head("http://elsewhere.test/file.bin", headers={"Content-Length": "9"})
    secret = {"Authorization": "Basic dTpw", "X-JFrog-Art-Api": "key", "Cookie": "s=1", "Accept": "*/*"}
    p = make_cdn().probe(SourceAccess(URL, Headers(secret)))
    assert (p.status, p.length) == (200, 9)
    first, second = (c.request.headers for c in source.calls)
    assert first["X-JFrog-Art-Api"] == "key" and first["Authorization"] == "Basic dTpw"
    assert not {"authorization", "x-jfrog-art-api", "cookie"} & {k.lower() for k in second}
    assert second["Accept"] == "*/*"


def test_source_allow_is_checked_on_every_hop(settings, source):
    """sourceAllow (the operator's answer to "the supernode fetches any URL a client registers"):
    a redirect from an allowed host to another one is refused before any request is sent there."""
    from common.shell.clock import SystemClock
    from supernode.cdn.manager import LocalCdn

    source.head(URL, status=302, headers={"Location": "http://169.254.169.254/latest/meta-data"})
    source.get(URL, status=302, headers={"Location": "http://169.254.169.254/latest/meta-data"})
    cdn = LocalCdn(settings.replace(source_allow=[r"^http://origin\.test/"]), clock=SystemClock(), sleep=lambda s: None)
    p = cdn.probe(SourceAccess(URL))
    assert p.status == 0 and "sourceAllow" in p.error
    assert cdn.probe(SourceAccess("http://other.test/x")).status == 0
    assert cdn.probe(SourceAccess("http://origin.test@other.test/x")).status == 0
    rec, result = run(cdn, job_for(URL))
    assert not result.success and "sourceAllow" in result.error and result.source_error
    assert [c.request.url for c in source.calls] == [URL, URL]  # nothing ever went to the metadata host


def test_delete_cancels_a_running_build(make_cdn, source):
    gate = threading.Event()

    def slow(request):
        gate.wait(10)
        return 200, {}, DATA

    source.add_callback(responses.GET, URL, callback=slow)
    cdn = make_cdn()
    job = job_for(URL)
    from .conftest import Recorder

    rec = Recorder()
    cdn.start(job, rec)
    cdn.delete(job.task_id)
    gate.set()
    result = rec.wait()
    assert not result.success and "cancelled" in result.error
    assert cdn.store.read_meta(job.task_id) is None and not cdn.has_data(job.task_id)
    assert not cdn.is_building(job.task_id)


def test_start_after_delete_waits_for_the_cancelled_build(make_cdn, source):
    gate = threading.Event()
    body = [DATA]

    def slow(request):
        gate.wait(10)
        return 200, {}, body[0]

    source.add_callback(responses.GET, URL, callback=slow)
    cdn = make_cdn()
    job = job_for(URL)
    from .conftest import Recorder

    old, new = Recorder(), Recorder()
    cdn.start(job, old)
    cdn.delete(job.task_id)
    body[0] = DATA[::-1]  # the source changed; the new build sees it
    cdn.start(job, new)
    gate.set()
    assert not old.wait().success
    result = new.wait()
    assert result.success and result.real_md5 == hashlib.md5(DATA[::-1]).hexdigest()
    assert_file(cdn, job, DATA[::-1])
    assert not cdn.is_building(job.task_id)


def test_url_userinfo_follows_a_same_origin_redirect_only(make_cdn, source):
    # (the mock matches URLs with their userinfo; a real server never sees it in the request line)
    source.head("http://user:pw@origin.test/a", status=302, headers={"Location": "/b"})
    source.head("http://user:pw@origin.test/b", status=302, headers={"Location": "http://elsewhere.test/c"})
    source.head("http://elsewhere.test/c", headers={"Content-Length": "3"})
    p = make_cdn().probe(SourceAccess("http://user:pw@origin.test/a"))
    assert (p.status, p.length) == (200, 3)
    auth = [c.request.headers.get("Authorization") for c in source.calls]
    assert auth[0] == auth[1] == "Basic dXNlcjpwdw==" and auth[2] is None
