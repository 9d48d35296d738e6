"""Hostile hosts against the upload server (issue 11 items 1 and 9, issue 12 item 1).

A request's origin is what the WSGI server says: REMOTE_ADDR, and the connection's own local
address (`werkzeug.socket`). The Flask test client lets us speak as any address without sending
a single packet off the loopback.
"""

import os

import pytest

from common.shell.clock import FakeClock
from common.version import VERSION
from dfget.uploader.app import create_upload_app
from dfget.uploader.state import UploadState

PIECE_SIZE = 4194304
NAME = "b.test-96414-1549104994.143"
CONTENT = bytes(range(256)) * 8
REMOTE = "192.0.2.7"  # TEST-NET-1: never routed, only ever a string here
OWN_ADDRESS = "198.51.100.4"


class FakeSocket:
    """What werkzeug puts in the environ as `werkzeug.socket`: only getsockname() is used."""

    def __init__(self, local_ip: str):
        self.local_ip = local_ip

    def getsockname(self):
        return (self.local_ip, 15001)


class Sleeps(list):
    """Records throttling waits; answers `interrupted` like Event.wait would when set."""

    interrupted = False

    def __call__(self, seconds):
        self.append(seconds)
        return self.interrupted


@pytest.fixture
def env(tmp_path):
    data = tmp_path / "home" / "data"
    data.mkdir(parents=True)
    clock = FakeClock()
    state = UploadState(str(data), clock, expire_time=180, alive_time=300)
    sleeps = Sleeps()
    app = create_upload_app(state, sleep=sleeps)
    app.testing = True
    local = app.test_client()
    remote = app.test_client()
    remote.environ_base.update({"REMOTE_ADDR": REMOTE, "werkzeug.socket": FakeSocket(OWN_ADDRESS)})
    own = app.test_client()  # a v1 dfget on this host that reaches the server by the host's address
    own.environ_base.update({"REMOTE_ADDR": OWN_ADDRESS, "werkzeug.socket": FakeSocket(OWN_ADDRESS)})
    return type(
        "Env",
        (),
        dict(data=data, clock=clock, state=state, sleeps=sleeps, local=local, remote=remote, own=own, root=tmp_path),
    )


def piece(client, name=NAME, rng="bytes=0-2052"):
    return client.get(f"/peer/file/{name}", headers={"Range": rng, "pieceNum": "0", "pieceSize": str(PIECE_SIZE)})


def register(client, name=NAME, data_dir=None, **headers):
    if data_dir is not None:
        headers["dataDir"] = str(data_dir)
    return client.get(f"/check/{name}", headers=headers)


FINISH = {"taskFileName": NAME, "taskID": "tid", "cid": "cid1", "superNode": "127.0.0.1:8002"}


# ---- item 1: control endpoints only from the host itself -------------------------------------


def test_a_remote_host_cannot_set_the_hosts_upload_limit(env):
    r = register(env.remote, totalLimit="1")
    assert r.status_code == 403 and "only from this host" in r.text
    assert env.state.total_limit == 0 and env.state.limiter is None
    assert env.state.get(NAME) is None


def test_a_remote_host_cannot_ask_rates_or_finish_tasks(env):
    assert env.remote.get(f"/rate/{NAME}", headers={"rateLimit": "5"}).status_code == 403
    assert env.remote.get("/client/finish", query_string=FINISH).status_code == 403
    assert env.state.tasks() == []


def test_remote_hosts_still_download_pieces(env):
    assert register(env.local).status_code == 200
    (env.data / f"{NAME}.service").write_bytes(CONTENT)
    r = piece(env.remote)
    assert r.status_code == 206 and r.data[4:-1] == CONTENT


def test_a_dfget_reaching_the_server_by_the_hosts_own_address_is_local(env):
    r = register(env.own, totalLimit="1048576")
    assert r.status_code == 200 and r.text == f"{NAME}@{VERSION}"
    assert env.state.total_limit == 1048576
    assert env.own.get("/client/finish", query_string=FINISH).text == "success"


@pytest.mark.parametrize(
    "header",
    [
        {"Origin": "http://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Mode": "no-cors"},
        {"Host": "rebound.evil.example:15001"},
    ],
)
def test_a_web_page_in_a_local_browser_cannot_drive_the_control_endpoints(env, header):
    assert env.local.get("/client/finish", query_string=FINISH, headers=header).status_code == 403
    assert register(env.local, totalLimit="1", **header).status_code == 403
    assert env.state.tasks() == [] and env.state.total_limit == 0


# ---- item 9: no SSRF through /client/finish ---------------------------------------------------


@pytest.mark.parametrize(
    "super_node",
    [
        "http://192.0.2.9:8002",
        "192.0.2.9:8002/latest/meta-data",
        "user@192.0.2.9:8002",
        "192.0.2.9:8002?x=1",
        "192.0.2.9:99999",
        "192.0.2.9:0",
        "192.0.2.9:80#frag",
        " 192.0.2.9 ",
        "a" * 300,
        "192.0.2.9:8002\r\nHost: x",
    ],
)
def test_client_finish_refuses_anything_but_host_and_port(env, super_node):
    r = env.local.get("/client/finish", query_string={**FINISH, "superNode": super_node})
    assert r.status_code == 400 and r.text == "invalid params"
    assert env.state.get(NAME) is None


@pytest.mark.parametrize("super_node", ["127.0.0.1:8002", "supernode.internal:8002", "127.0.0.1", ""])
def test_client_finish_keeps_the_v1_shapes(env, super_node):
    r = env.local.get("/client/finish", query_string={**FINISH, "superNode": super_node})
    assert r.status_code == 200 and env.state.get(NAME).super_node == super_node


# ---- issue 12 item 1: one server, every home --------------------------------------------------


def test_another_homes_data_dir_is_served_for_its_own_tasks_only(env):
    other = env.root / "other-home" / "data"
    other.mkdir(parents=True)
    r = register(env.local, data_dir=other, totalLimit="0")
    assert r.status_code == 200 and r.text == f"{NAME}@{VERSION}"
    (other / f"{NAME}.service").write_bytes(CONTENT)
    (env.data / f"{NAME}.service").write_bytes(b"x" * len(CONTENT))  # same name in our dir: not served
    (other / "stray.service").write_bytes(b"secret")
    r = piece(env.remote)
    assert r.status_code == 206 and r.data[4:-1] == CONTENT
    assert piece(env.remote, "stray").status_code == 404
    # our own tasks still come from our own directory
    assert register(env.local, "mine").status_code == 200
    (env.data / "mine.service").write_bytes(b"m" * 100)
    assert piece(env.remote, "mine", "bytes=0-104").data[4:-1] == b"m" * 100


def test_finish_keeps_the_data_dir_given_at_check(env):
    other = env.root / "other-home" / "data"
    other.mkdir(parents=True)
    register(env.local, data_dir=other)
    env.local.get("/client/finish", query_string=FINISH)
    (other / f"{NAME}.service").write_bytes(CONTENT)
    assert piece(env.remote).data[4:-1] == CONTENT
    assert env.state.get(NAME).data_dir == os.path.realpath(other)


@pytest.mark.parametrize("data_dir", ["relative/data", "/nonexistent/data", "/etc/passwd", "x" * 5000])
def test_a_data_dir_that_is_no_absolute_existing_directory_is_refused(env, data_dir):
    r = register(env.local, data_dir=data_dir)
    assert r.status_code == 400 and "dataDir" in r.text
    assert env.state.get(NAME) is None


def test_a_symlink_in_another_homes_data_dir_is_not_followed(env):
    other = env.root / "other-home" / "data"
    other.mkdir(parents=True)
    secret = env.root / "secret.service"
    secret.write_bytes(b"top secret")
    os.symlink(secret, other / f"{NAME}.service")
    register(env.local, data_dir=other)
    r = piece(env.remote)
    assert r.status_code == 404 and b"top secret" not in r.data


# ---- stuck and throttled uploads --------------------------------------------------------------


def test_a_stuck_upload_does_not_keep_the_server_alive(env):
    register(env.local)
    (env.data / f"{NAME}.service").write_bytes(CONTENT)
    r = piece(env.remote)
    body = iter(r.response)
    next(body)  # the frame header went out; the peer stops reading here
    env.clock.advance(301)
    assert env.state.idle()  # no progress for the alive time: the server may stop
    r.close()


def test_stopping_the_server_interrupts_a_throttled_upload(env):
    register(env.local, totalLimit="102400")
    (env.data / f"{NAME}.service").write_bytes(os.urandom(300 * 1024))
    env.sleeps.interrupted = True  # the wait returns early: the server is stopping
    r = env.remote.get(
        f"/peer/file/{NAME}",
        headers={"Range": f"bytes=0-{PIECE_SIZE - 1}", "pieceNum": "0", "pieceSize": str(PIECE_SIZE)},
    )
    with pytest.raises(OSError):
        r.get_data()
    assert len(env.sleeps) == 1


def test_a_throttle_wait_longer_than_the_cap_aborts_the_upload(env):
    register(env.local, totalLimit="1")
    (env.data / f"{NAME}.service").write_bytes(os.urandom(300 * 1024))
    r = env.remote.get(
        f"/peer/file/{NAME}",
        headers={"Range": f"bytes=0-{PIECE_SIZE - 1}", "pieceNum": "0", "pieceSize": str(PIECE_SIZE)},
    )
    with pytest.raises(OSError):
        r.get_data()
    assert env.sleeps == []  # never slept for days: gave up at once


def test_a_cut_upload_gives_its_bandwidth_back(env):
    """Bytes reserved for an upload that is cut are never sent: the next one must not pay."""
    register(env.local, totalLimit="1")
    (env.data / f"{NAME}.service").write_bytes(os.urandom(300 * 1024))
    for _ in range(3):
        r = env.remote.get(
            f"/peer/file/{NAME}",
            headers={"Range": f"bytes=0-{PIECE_SIZE - 1}", "pieceNum": "0", "pieceSize": str(PIECE_SIZE)},
        )
        with pytest.raises(OSError):
            r.get_data()
    # the clock stands still: one more byte costs one second, not the debt of three cut uploads
    assert env.state.reserve_upload(1) <= 1.0
