import hashlib
import random

import pytest
import responses
from flask import Flask

from common.pieces import META_SIZE
from supernode.api.download import download_blueprint

from .conftest import MIB, job_for, run

URL = "http://origin.test/layer"
DATA = random.Random(5).randbytes(MIB + 100)  # two pieces: a full one and a short one


@pytest.fixture
def built(make_cdn):
    with responses.RequestsMock() as rsps:
        rsps.get(URL, body=DATA)
        cdn = make_cdn()
        job = job_for(URL, source_length=len(DATA))
        rec, result = run(cdn, job)
    assert result.success
    with open(cdn.path_of(job.task_id), "rb") as f:
        wrapped = f.read()
    servable = {job.task_id}
    app = Flask(__name__)
    app.register_blueprint(download_blueprint(cdn, lambda tid, ip: tid in servable))
    return app.test_client(), job.task_id, wrapped, rec, servable


def path(tid):
    return f"/download/{tid[:3]}/{tid}"


def test_piece_range_is_206_with_exact_bytes(built):
    client, tid, wrapped, rec, _ = built
    r = client.get(path(tid), headers={"Range": f"bytes=0-{MIB - 1}"})
    assert r.status_code == 206 and r.data == wrapped[:MIB]
    assert r.headers["Content-Range"] == f"bytes 0-{MIB - 1}/{len(wrapped)}"
    assert r.headers["Content-Length"] == str(MIB)
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert hashlib.md5(r.data).hexdigest() == rec.pieces[0][1]


def test_last_piece_returns_fewer_bytes(built):
    client, tid, wrapped, rec, _ = built
    r = client.get(path(tid), headers={"Range": f"bytes={MIB}-{2 * MIB - 1}"})
    assert r.status_code == 206 and r.data == wrapped[MIB:]
    assert len(r.data) == 100 - (MIB - META_SIZE) + MIB + META_SIZE and len(r.data) == rec.pieces[1][2]
    assert r.headers["Content-Range"] == f"bytes {MIB}-{len(wrapped) - 1}/{len(wrapped)}"


def test_no_range_is_the_whole_file_and_head_has_no_body(built):
    client, tid, wrapped, _, _ = built
    r = client.get(path(tid))
    assert r.status_code == 200 and r.data == wrapped
    h = client.head(path(tid), headers={"Range": "bytes=5-9"})
    assert h.status_code == 206 and h.data == b"" and h.headers["Content-Length"] == "5"


@pytest.mark.parametrize("header", ["bytes=9-3", "items=0-1", "bytes=a-b", "bytes=0-1,4-5", "bytes=-"])
def test_malformed_range_is_400(built, header):
    client, tid, *_ = built
    assert client.get(path(tid), headers={"Range": header}).status_code == 400


def test_unsatisfiable_range_is_416(built):
    client, tid, wrapped, *_ = built
    r = client.get(path(tid), headers={"Range": f"bytes={len(wrapped)}-"})
    assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{len(wrapped)}"


def test_unknown_unservable_and_wrong_prefix_are_404(built):
    client, tid, _, _, servable = built
    other = "0" * 64
    assert client.get(path(other)).status_code == 404  # no such task
    assert client.get(f"/download/{tid[1:4]}/{tid}").status_code == 404  # wrong prefix
    servable.clear()
    assert client.get(path(tid)).status_code == 404  # file exists, task not registered


@pytest.mark.parametrize(
    "p",
    [
        "/download/../etc/passwd",
        "/download/..%2F..%2F/passwd",
        "/download/abc/abc",
        "/download/ABC/" + "A" * 64,
    ],
)
def test_traversal_and_bad_ids_are_404(built, p):
    client, tid, _, _, servable = built
    servable.add("abc")
    assert client.get(p).status_code == 404


def test_meta_and_md5_files_are_not_served(built):
    client, tid, _, _, servable = built
    servable.add(tid + ".meta")
    assert client.get(f"/download/{tid[:3]}/{tid}.meta").status_code == 404
