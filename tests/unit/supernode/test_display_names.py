"""A registration's display name (common/protocol/messages.py HEADER_DISPLAY_NAME): taken out of
the task's headers (never sent to the source, never making a task credentialed), cleaned, and at
most a few kept per task, the first ones winning."""

from common.protocol.messages import HEADER_DISPLAY_NAME, RegisterRequest
from supernode.core.effects import Delivered
from supernode.core.model import MAX_DISPLAY_NAMES
from supernode.core.registration import registrant_from
from tests.unit.supernode.coreharness import cdn_pieces, coordinator, pid_of, pull, register

URL = "http://registry.example/v2/library/alpine/blobs/sha256:" + "a" * 64


def request(*headers):
    return RegisterRequest(
        raw_url=URL, task_url=URL, cid="10.0.0.2-1-1.0", ip="10.0.0.2", path="/peer/file/x", headers=list(headers)
    )


def test_the_header_is_taken_out_of_the_registration_and_cleaned():
    reg = registrant_from(request(f"{HEADER_DISPLAY_NAME}: library/alpine:3.19", "User-Agent: docker/27"), "10.0.0.1")
    assert reg.display_name == "library/alpine:3.19"
    assert dict(reg.source.headers) == {"User-Agent": "docker/27"}
    hostile = registrant_from(request(f"{HEADER_DISPLAY_NAME.lower()}: <b>x</b>"), "10.0.0.1")
    assert hostile.display_name == "" and not hostile.source.headers


def test_a_display_name_alone_does_not_make_the_task_credentialed():
    core = coordinator()
    reg = registrant_from(request(f"{HEADER_DISPLAY_NAME}: library/alpine:3.19"), "10.0.0.1")
    assert core.register(reg, None).answer.code == 200
    task = core.state.tasks[reg.task_id]
    assert not task.credentialed and not task.source.headers and task.display_names == ("library/alpine:3.19",)


def test_the_first_few_names_stay():
    core = coordinator()
    for i in range(MAX_DISPLAY_NAMES + 3):
        register(core, f"c{i}", display_name=f"library/alpine:v{i}")
    register(core, "again", display_name="library/alpine:v0")
    names = core.state.tasks["t" * 64].display_names
    assert names == tuple(f"library/alpine:v{i}" for i in range(MAX_DISPLAY_NAMES))


def test_a_piece_from_the_supernode_is_a_delivery_to_the_clients_host():
    core = coordinator()
    register(core, "c1")
    cdn_pieces(core, "t" * 64, 2)
    answer = pull(core, "c1", status=700, result=502)
    piece = answer.data[0]
    out = core.piece_success("t" * 64, "c1", piece.cid, piece.range)
    [delivered] = [e for e in out.effects if isinstance(e, Delivered)]
    peer = core.state.peers[pid_of(core, "t" * 64, "c1")]
    assert delivered.source is None and delivered.nbytes == 1024
    assert (delivered.client.ip, delivered.client.port, delivered.client.host_name) == (peer.ip, 15001, "host-c1")
