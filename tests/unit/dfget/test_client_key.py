"""dfget's supernode client sends each supernode's client key back on every call about that
registration (issue 11 item 6), and nothing where it has no key (a v1 supernode gives none)."""

import json

from common.nodes import Node
from common.protocol.messages import (
    HEADER_CLIENT_KEY,
    PieceErrorRequest,
    PieceSuccessRequest,
    PullPieceTaskRequest,
    RegisterRequest,
)
from dfget.httpc import Answer
from dfget.supernode_client import SupernodeClient


class RecordingHttp:
    def __init__(self):
        self.calls = []

    def request(self, method, host, port, path, *, params=None, json_body=None, headers=None, timeout=5.0):
        self.calls.append((f"{host}:{port}", path, dict(headers or {})))
        return Answer(200, json.dumps({"code": 611}).encode(), {})


A, B = Node("10.0.0.1", 8002), Node("10.0.0.2", 8002)


def calls_for(client, node, cid):
    client.register(node, RegisterRequest(raw_url="http://h/f", cid=cid, ip="10.0.0.9", path="/peer/file/x"))
    client.pull(node, PullPieceTaskRequest(src_cid=cid, task_id="t"), timeout=1)
    client.piece_success(node, PieceSuccessRequest(task_id="t", cid=cid, piece_range="0-1"))
    client.piece_error(node, PieceErrorRequest(task_id="t", range="0-1", src_cid=cid, dst_cid="d"))


def test_each_call_about_a_registration_carries_that_nodes_key():
    http = RecordingHttp()
    client = SupernodeClient(http)
    client.remember_key(A, "cid-1", "key-from-a")
    client.remember_key(B, "cid-1", "key-from-b")
    calls_for(client, A, "cid-1")
    calls_for(client, B, "cid-1")
    calls_for(client, A, "cid-other")
    keys = [headers.get(HEADER_CLIENT_KEY) for _, _, headers in http.calls]
    assert keys == ["key-from-a"] * 4 + ["key-from-b"] * 4 + [None] * 4


def test_a_registration_without_a_key_forgets_the_old_one():
    http = RecordingHttp()
    client = SupernodeClient(http)
    client.remember_key(A, "cid-1", "old")
    client.remember_key(A, "cid-1", "")  # the node restarted as a v1 supernode, say
    calls_for(client, A, "cid-1")
    assert all(HEADER_CLIENT_KEY not in headers for _, _, headers in http.calls)
