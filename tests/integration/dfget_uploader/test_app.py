"""The upload server's HTTP endpoints through the Flask test client (docs/protocol.md#peer-upload-server)."""

import os

import pytest

from common.pieces import frame_header
from common.shell.clock import FakeClock
from common.version import VERSION
from dfget.uploader.app import HEADER_DATA_DIR_ID, create_upload_app
from dfget.uploader.core.policy import data_dir_id
from dfget.uploader.state import UploadState

PIECE_SIZE = 4194304
NAME = "b.test-96414-1549104994.143"


class Sleeps(list):
    """Records throttling waits and lets the fake clock move by them, as a real wait would."""

    clock = None

    def __call__(self, seconds):
        self.append(seconds)
        if self.clock is not None:
            self.clock.advance(seconds)
        return False


@pytest.fixture
def env(tmp_path):
    data = tmp_path / "home" / "data"
    data.mkdir(parents=True)
    clock = FakeClock()
    state = UploadState(str(data), clock, expire_time=180, alive_time=300)
    sleeps = Sleeps()
    sleeps.clock = clock
    app = create_upload_app(state, sleep=sleeps)
    app.testing = True
    return type(
        "Env", (), dict(data=data, clock=clock, state=state, sleeps=sleeps, client=app.test_client(), root=tmp_path)
    )


def piece_headers(rng, num=0, size=PIECE_SIZE, **extra):
    return {"Range": rng, "pieceNum": str(num), "pieceSize": str(size), **extra}


def register(env, name=NAME, content=None, **headers):
    r = env.client.get(f"/check/{name}", headers=headers)
    assert r.status_code == 200, r.text
    if content is not None:
        (env.data / f"{name}.service").write_bytes(content)
    return r


CONTENT = bytes(range(256)) * 7 + bytes(208)  # 2000 bytes


# ---- /peer/file ------------------------------------------------------------------------------


def test_piece_206_with_wrapped_body(env):
    register(env, content=CONTENT)
    r = env.client.get(f"/peer/file/{NAME}", headers=piece_headers("bytes=0-1999"))
    assert r.status_code == 206
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Content-Length"] == "2000"
    assert r.data == frame_header(1995, PIECE_SIZE) + CONTENT[:1995] + b"\x7f"


def test_piece_past_eof_is_shortened(env):
    register(env, content=CONTENT)
    r = env.client.get(f"/peer/file/{NAME}", headers=piece_headers(f"bytes=0-{PIECE_SIZE - 1}"))
    assert r.status_code == 206 and r.headers["Content-Length"] == "2005"
    assert r.data == frame_header(2000, PIECE_SIZE) + CONTENT + b"\x7f"


def test_second_piece_raw_offset(env):
    size = 1 << 20
    content = os.urandom(size + 100)
    register(env, content=content)
    r = env.client.get(f"/peer/file/{NAME}", headers=piece_headers(f"bytes={size}-{2 * size - 1}", 1, size))
    assert r.status_code == 206
    assert r.data == frame_header(105, size) + content[size - 5 :] + b"\x7f"


def test_cdn_source_serves_raw_bytes(env):
    register(env, content=CONTENT)
    r = env.client.get(f"/peer/file/{NAME}", headers=piece_headers("bytes=10-19", cdnSource="source"))
    assert r.status_code == 206 and r.data == CONTENT[10:20]
    r = env.client.get(f"/peer/file/{NAME}", headers=piece_headers("bytes=2000-2010", cdnSource="source"))
    assert r.status_code == 416


def test_piece_416_for_range_shorter_than_frame(env):
    register(env, content=CONTENT)
    r = env.client.get(f"/peer/file/{NAME}", headers=piece_headers("bytes=0-1"))
    assert r.status_code == 416 and r.text == "range not satisfiable"


def test_piece_404_for_unknown_task(env):
    (env.data / f"{NAME}.service").write_bytes(CONTENT)  # on disk but never registered
    r = env.client.get(f"/peer/file/{NAME}", headers=piece_headers("bytes=0-1999"))
    assert r.status_code == 404


def test_piece_404_for_missing_file(env):
    register(env)
    r = env.client.get(f"/peer/file/{NAME}", headers=piece_headers("bytes=0-1999"))
    assert r.status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        piece_headers("bytes=0-x"),
        {"pieceNum": "0", "pieceSize": str(PIECE_SIZE)},  # no Range
        {"Range": "bytes=0-1999", "pieceSize": str(PIECE_SIZE)},  # no pieceNum
        {"Range": "bytes=0-1999", "pieceNum": "0"},  # no pieceSize
        piece_headers("bytes=0-1999", num="x"),
    ],
)
def test_piece_400_for_bad_headers(env, headers):
    register(env, content=CONTENT)
    assert env.client.get(f"/peer/file/{NAME}", headers=headers).status_code == 400


SECRET = b"top secret outside the data dir"


@pytest.mark.parametrize(
    "path",
    [
        "/peer/file/..%2fsecret",
        "/peer/file/..%2f..%2fsecret",
        "/peer/file/%2e%2e%2fsecret",
        "/peer/file/%2F" + "secret",
        "/peer/file/..",
        "/peer/file/.",
        "/peer/file/../secret",
        "/peer/file//etc/passwd",
        "/peer/file/secret%00",
    ],
)
def test_traversal_never_reads_outside_the_data_dir(env, path):
    (env.root / "home" / "secret.service").write_bytes(SECRET)
    (env.root / "secret.service").write_bytes(SECRET)
    r = env.client.get(path, headers=piece_headers("bytes=0-100"))
    assert 400 <= r.status_code < 500
    assert SECRET not in r.data


@pytest.mark.parametrize("path", ["/check/..%2fsecret", "/check/..", "/check/.secret", "/rate/..%2fx"])
def test_unsafe_names_are_not_registered(env, path):
    r = env.client.get(path, headers={"rateLimit": "1"})
    assert 400 <= r.status_code < 500
    assert env.state.tasks() == []


def test_symlink_out_of_the_data_dir_is_not_followed(env):
    outside = env.root / "secret.service"
    outside.write_bytes(SECRET)
    register(env, "link")
    os.symlink(outside, env.data / "link.service")
    r = env.client.get("/peer/file/link", headers=piece_headers("bytes=0-100"))
    assert r.status_code == 404 and SECRET not in r.data


def test_upload_is_throttled_by_the_total_limit(env):
    content = os.urandom(200 * 1024)
    register(env, content=content, totalLimit="100000")
    r = env.client.get(f"/peer/file/{NAME}", headers=piece_headers(f"bytes=0-{PIECE_SIZE - 1}"))
    assert r.status_code == 206 and r.data[4:-1] == content
    # The FakeClock stands still: everything beyond the 64 KiB burst must be waited for.
    assert sum(env.sleeps) == pytest.approx((len(content) - 64 * 1024) / 100000)


def test_no_throttling_without_total_limit(env):
    register(env, content=os.urandom(200 * 1024))
    env.client.get(f"/peer/file/{NAME}", headers=piece_headers(f"bytes=0-{PIECE_SIZE - 1}"))
    assert env.sleeps == []


def test_a_served_piece_counts_as_alive_and_releases_its_upload_slot(env):
    register(env, content=CONTENT)
    env.clock.advance(299)
    r = env.client.get(f"/peer/file/{NAME}", headers=piece_headers("bytes=0-1999"))
    assert env.state.seconds_until_idle() == 300  # every chunk sent counts as activity
    r.close()  # what the WSGI server does after sending
    assert env.state.active_uploads == 0
    env.clock.advance(299)
    assert not env.state.idle()
    env.clock.advance(2)
    assert env.state.idle()


# ---- /rate -----------------------------------------------------------------------------------


def test_rate_echo_without_total_limit(env):
    r = env.client.get(f"/rate/{NAME}", headers={"rateLimit": "20971520"})
    assert r.status_code == 200 and r.text == "20971520"


@pytest.mark.parametrize("value", ["abc", "", "1.5", "-3"])
def test_rate_400_for_non_integer(env, value):
    assert env.client.get(f"/rate/{NAME}", headers={"rateLimit": value}).status_code == 400


def test_rate_missing_header_is_400(env):
    assert env.client.get(f"/rate/{NAME}").status_code == 400


def test_rate_sharing_under_total_limit(env):
    for name in ("a", "b", "c"):
        register(env, name, totalLimit="100")
    assert env.client.get("/rate/a", headers={"rateLimit": "60"}).text == "60"  # 60 <= 100
    assert env.client.get("/rate/b", headers={"rateLimit": "90"}).text == "60"  # ceil(90*100/150)
    assert env.client.get("/rate/a", headers={"rateLimit": "60"}).text == "40"  # ceil(60*100/150)
    env.client.get("/client/finish", query_string={"taskFileName": "b", "taskID": "t", "cid": "c"})
    assert env.client.get("/rate/a", headers={"rateLimit": "60"}).text == "60"  # b no longer counts
    assert env.client.get("/rate/c", headers={"rateLimit": "70"}).text == "54"  # ceil(70*100/130)


# ---- /check, /client/finish, /server/ping ----------------------------------------------------


def test_check_returns_name_at_version_and_registers(env):
    r = env.client.get(f"/check/{NAME}", headers={"dataDir": str(env.data), "totalLimit": "0"})
    assert r.status_code == 200 and r.text == f"{NAME}@{VERSION}"
    task = env.state.get(NAME)
    assert task is not None and not task.finished
    assert env.state.limiter is None


def test_check_positive_total_limit_configures_limiter(env):
    register(env, totalLimit="1048576")
    assert env.state.total_limit == 1048576 and env.state.limiter.rate == 1048576


def test_check_from_another_home_is_served_like_v1(env, tmp_path):
    """One upload server per host serves every home (issue 12 item 1): 200, not 409."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = env.client.get(f"/check/{NAME}", headers={"dataDir": str(elsewhere)})
    assert r.status_code == 200 and r.text == f"{NAME}@{VERSION}"
    assert env.state.get(NAME).data_dir == os.path.realpath(elsewhere)


def test_check_naming_a_missing_data_dir_is_refused(env, tmp_path):
    r = env.client.get(f"/check/{NAME}", headers={"dataDir": str(tmp_path / "missing")})
    assert r.status_code == 400 and "dataDir" in r.text
    assert env.state.get(NAME) is None


def test_client_finish(env):
    register(env)
    r = env.client.get(
        "/client/finish",
        query_string={"taskFileName": NAME, "taskID": "tid", "cid": "cid1", "superNode": "127.0.0.1:8002"},
    )
    assert r.status_code == 200 and r.text == "success"
    task = env.state.get(NAME)
    assert (task.finished, task.task_id, task.cid, task.super_node) == (True, "tid", "cid1", "127.0.0.1:8002")


def test_client_finish_registers_an_unknown_task(env):
    r = env.client.get("/client/finish", query_string={"taskFileName": "new", "taskID": "t", "cid": "c"})
    assert r.status_code == 200 and env.state.get("new").finished


@pytest.mark.parametrize(
    "query",
    [
        {"taskID": "t", "cid": "c"},
        {"taskFileName": NAME, "cid": "c"},
        {"taskFileName": NAME, "taskID": "t"},
        {"taskFileName": "", "taskID": "t", "cid": "c"},
        {"taskFileName": "../x", "taskID": "t", "cid": "c"},
    ],
)
def test_client_finish_400(env, query):
    r = env.client.get("/client/finish", query_string=query)
    assert r.status_code == 400 and r.text == "invalid params"


def test_ping(env):
    r = env.client.get("/server/ping")
    assert r.status_code == 200 and r.text == "success"
    assert r.headers[HEADER_DATA_DIR_ID] == data_dir_id(os.path.realpath(env.data))
