import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.errors import BadInput
from common.nodes import Node, parse_node, parse_nodes
from dfget.core.locator import Locator, failover_order


def test_parse_node_defaults_and_weights():
    assert parse_node("10.0.0.1") == Node("10.0.0.1", 8002, 1)
    assert parse_node("sn.example:8009") == Node("sn.example", 8009, 1)
    assert parse_node("sn:8009=3") == Node("sn", 8009, 3)
    assert parse_node("sn=2") == Node("sn", 8002, 2)
    assert str(parse_node(" a:1 ")) == "a:1"


@pytest.mark.parametrize("bad", ["", ":8002", "h:port", "h:0", "h:70000", "h=0", "h=x", "h:1=-1", "a b"])
def test_parse_node_rejects_garbage(bad):
    with pytest.raises(BadInput):
        parse_node(bad)


def test_parse_nodes_splits_commas_divides_by_gcd_and_merges_duplicates():
    nodes = parse_nodes(["a:1=4,b:2=6", "c=2"])
    assert [(n.addr, n.weight) for n in nodes] == [("a:1", 2), ("b:2", 3), ("c:8002", 1)]
    assert [(n.addr, n.weight) for n in parse_nodes(["a", "a:8002"])] == [("a:8002", 1)]
    assert parse_nodes([]) == [] and parse_nodes([" , "]) == []


NODES = parse_nodes(["s1:8002", "s2:8002", "s3:8002", "s4:8002"])


def test_order_is_stable_per_url_and_covers_every_node():
    a = failover_order(NODES, "http://x/file1")
    assert a == failover_order(list(reversed(NODES)), "http://x/file1")
    assert sorted(n.addr for n in a) == sorted(n.addr for n in NODES)
    firsts = {failover_order(NODES, f"http://x/file{i}")[0].addr for i in range(200)}
    assert firsts == {n.addr for n in NODES}  # URLs spread over all supernodes


def test_removing_a_node_only_moves_its_urls():
    urls = [f"http://x/f{i}" for i in range(300)]
    before = {u: failover_order(NODES, u) for u in urls}
    survivors = [n for n in NODES if n.addr != "s2:8002"]
    for u in urls:
        after = failover_order(survivors, u)
        if before[u][0].addr != "s2:8002":
            assert after[0] == before[u][0]
        else:  # fails over to its ring successor
            assert after[0] == before[u][1]


def test_weights_attract_proportionally_more_urls():
    nodes = parse_nodes(["big=3", "small=1"])
    firsts = [failover_order(nodes, f"http://x/{i}")[0].host for i in range(2000)]
    assert 0.6 < firsts.count("big") / len(firsts) < 0.9


def test_locator_is_a_one_pass_cursor_that_skips_the_node_in_use():
    loc = Locator(NODES, "http://x/y")
    order = loc.order
    first = next(loc.candidates())
    assert first == order[0]
    rest = list(loc.candidates(skip=order[1]))
    assert rest == [order[2], order[3]]
    assert list(loc.candidates()) == []


def test_single_node_cannot_migrate():
    loc = Locator(parse_nodes(["only"]), "u")
    node = next(loc.candidates())
    assert list(loc.candidates(skip=node)) == []
    assert Locator([], "u").first() is None


@given(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, unique=True), st.text())
def test_failover_order_is_a_permutation(hosts, key):
    nodes = parse_nodes(hosts)
    assert sorted(failover_order(nodes, key), key=lambda n: n.addr) == sorted(nodes, key=lambda n: n.addr)
