"""Registration with failover, driven through a recording fake client (no sockets)."""

import pytest

from common.nodes import parse_nodes
from common.protocol.messages import ResultInfo
from dfget.context import RunContext
from dfget.core.locator import Locator
from dfget.register import COME_BACK_DELAYS, MAX_COME_BACKS, RegisterFailed, Registrar
from dfget.settings import DfgetConfig
from dfget.supernode_client import SupernodeUnavailable

OK = {"taskId": "t" * 64, "fileLength": 10, "pieceSize": 4194304, "cdnSource": "supernode"}


class FakeClient:
    def __init__(self, script):
        self.script = script  # addr -> list of answers (ResultInfo dicts or exceptions)
        self.calls = []
        self.keys = {}

    def remember_key(self, node, cid, key):
        self.keys[(node.addr, cid)] = key

    def register(self, node, req):
        self.calls.append((node.addr, req))
        answer = self.script[node.addr].pop(0)
        if isinstance(answer, Exception):
            raise answer
        return ResultInfo.decode(answer)


def make(nodes, script, md5="", identifier="id"):
    cfg = DfgetConfig(
        url="http://h/f?a=1",
        output="",
        nodes=tuple(parse_nodes(nodes)),
        local_limit=1,
        min_rate=1,
        total_limit=0,
        client_queue_size=6,
        work_home="/w",
        log_path="",
        log_max_size=1,
        log_max_backups=1,
        md5=md5,
        identifier=identifier,
        headers=("A: b",),
    )
    ctx = RunContext(
        sign="1-2.000",
        started=0,
        output="/o/f",
        temp_target="/o/t",
        data_dir="/w/data",
        meta_path="/w/meta/host.meta",
        local_ip="10.0.0.5",
        cid="10.0.0.5-1-2.000",
        task_file_name="f-1-2.000",
        task_url="http://h/f",
        pattern="cdn",
    )
    locator = Locator(list(cfg.nodes), ctx.task_url)
    client = FakeClient(script)
    slept = []
    return Registrar(cfg, ctx, client, locator, slept.append, "host"), client, locator, slept


def test_request_carries_v1_fields_and_identifier_only_without_md5():
    reg, client, locator, _ = make(["a"], {"a:8002": [{"code": 200, "data": OK}]})
    node, result = reg.register()
    body = client.calls[0][1].encode()
    assert body["rawUrl"] == "http://h/f?a=1" and body["taskUrl"] == "http://h/f"
    assert body["cid"] == "10.0.0.5-1-2.000" and body["ip"] == "10.0.0.5" and body["superNodeIp"] == "a"
    assert body["path"] == "/peer/file/f-1-2.000" and body["identifier"] == "id" and "md5" not in body
    assert body["headers"] == ["A: b"] and body["hostName"] == "host" and body["version"] == "1.0.6"
    assert result.task_id == "t" * 64 and locator.current == node
    reg, client, _, _ = make(["a"], {"a:8002": [{"code": 200, "data": OK}]}, md5="m" * 32)
    reg.register()
    body = client.calls[0][1].encode()
    assert body["md5"] == "m" * 32 and "identifier" not in body


def test_fails_over_in_locator_order_on_transport_errors_and_other_codes():
    reg, client, locator, _ = make(["a", "b", "c"], {})
    first, second, third = (n.addr for n in locator.order)
    client.script = {
        first: [SupernodeUnavailable("down")],
        second: [{"code": 500, "msg": "x"}],
        third: [{"code": 200, "data": OK}],
    }
    node, _ = reg.register()
    assert [c[0] for c in client.calls] == [first, second, third] and node.addr == third


def test_wait_auth_retries_the_same_node_three_times():
    reg, client, _, slept = make(["a"], {"a:8002": [{"code": 609}] * 3 + [{"code": 200, "data": OK}]})
    reg.register()
    assert len(client.calls) == 4 and slept == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("code", [607, 608])
def test_need_auth_and_unreachable_stop_the_search(code):
    reg, client, locator, _ = make(["a", "b"], {})
    client.script = {n.addr: [{"code": code, "msg": "no"}] for n in locator.order}
    with pytest.raises(RegisterFailed) as e:
        reg.register()
    assert e.value.result_code == code and len(client.calls) == 1


def test_migration_skips_the_current_node_and_never_revisits_the_others():
    reg, client, locator, slept = make(["a", "b"], {})
    first, second = locator.order
    down = SupernodeUnavailable("connection refused")
    client.script = {
        first.addr: [{"code": 200, "data": OK}],
        second.addr: [{"code": 200, "data": OK}] + [down] * len(COME_BACK_DELAYS),
    }
    reg.register()
    node, _ = reg.register(skip=first)
    assert node == second
    with pytest.raises(RegisterFailed):
        reg.register(skip=second)  # nowhere else: `second` is asked again (it may be restarting)
    assert [addr for addr, _ in client.calls] == [first.addr] + [second.addr] * (1 + len(COME_BACK_DELAYS))
    assert slept == list(COME_BACK_DELAYS)


def test_a_node_restarted_in_place_is_registered_with_again():
    reg, client, locator, slept = make(["a"], {})
    down = SupernodeUnavailable("connection refused")
    client.script = {"a:8002": [{"code": 200, "data": OK}, down, {"code": 200, "data": OK}]}
    node, _ = reg.register()
    again, _ = reg.register(skip=node)
    assert again == node and slept == list(COME_BACK_DELAYS[:2])


def test_coming_back_is_bounded_per_download():
    reg, client, locator, slept = make(["a"], {})
    client.script = {"a:8002": [{"code": 200, "data": OK}] * (MAX_COME_BACKS + 1)}
    node, _ = reg.register()
    for _ in range(MAX_COME_BACKS):
        reg.register(skip=node)
    with pytest.raises(RegisterFailed):
        reg.register(skip=node)


def test_a_node_that_failed_the_task_is_not_asked_again():
    """A pull answered 500 (the node's build failed): coming back would only fail again, and used
    to print 'migrated to node:<the same node>' before going to the source anyway."""
    reg, client, locator, slept = make(["a"], {})
    client.script = {"a:8002": [{"code": 200, "data": OK}, {"code": 200, "data": OK}]}
    node, _ = reg.register()
    with pytest.raises(RegisterFailed) as failed:
        reg.register(skip=node, come_back=False)
    assert len(client.calls) == 1 and slept == []
    assert "no other supernode" in str(failed.value)


def test_the_key_of_the_node_that_accepted_is_remembered_for_this_cid():
    reg, client, _, _ = make(
        ["a", "b"], {"a:8002": [{"code": 500}], "b:8002": [{"code": 200, "data": {**OK, "clientKey": "key-from-b"}}]}
    )
    node, result = reg.register()
    assert result.client_key == "key-from-b"
    assert client.keys == {(node.addr, "10.0.0.5-1-2.000"): "key-from-b"}


def test_rejoin_registers_with_the_same_node_again_and_is_bounded_per_download():
    from dfget.register import MAX_REJOINS

    reg, client, locator, slept = make(["a", "b"], {})
    first, second = locator.order
    client.script = {first.addr: [{"code": 200, "data": OK}] * (MAX_REJOINS + 1), second.addr: []}
    node, _ = reg.register()
    for _ in range(MAX_REJOINS):
        again, _ = reg.rejoin(node, "code 502 unknown task")
        assert again == node
    assert reg.rejoin(node, "code 502 unknown task") is None  # spent: the caller migrates
    assert [addr for addr, _ in client.calls] == [first.addr] * (MAX_REJOINS + 1) and slept == []
    assert {req.cid for _, req in client.calls} == {"10.0.0.5-1-2.000"}


def test_rejoin_refused_or_unanswered_leaves_the_choice_to_migration():
    reg, client, locator, _ = make(
        ["a"], {"a:8002": [{"code": 200, "data": OK}, {"code": 500, "msg": "x"}, SupernodeUnavailable("refused")]}
    )
    node, _ = reg.register()
    assert reg.rejoin(node, "code 502") is None and reg.rejoin(node, "code 502") is None
