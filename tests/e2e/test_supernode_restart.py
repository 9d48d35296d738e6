"""A supernode restarted in place under running downloads (issue 12 item 2): every client
registers with it again and finishes P2P with the pieces it already had — with one node in its
list, and with two (the other node alive: going there would fetch the file from the source again);
stopped by SIGTERM, or killed.
Real processes; every process is ended by its PID; waits have deadlines, timings are not asserted."""

import hashlib
import json
import os
import pathlib
import re

import pytest

from common.nodes import parse_nodes
from dfget.core.locator import failover_order
from tests.support.dfget_runs import DfgetRunner
from tests.support.procs import kill_tree, start_supernode, wait_until

pytestmark = pytest.mark.e2e
MIB = 1024 * 1024
CLIENTS = 3


def pieces_logged(log_text: str) -> "list[dict]":
    return [json.loads(m) for m in re.findall(r"downloading piece:(\{.*\})", log_text)]


@pytest.mark.parametrize(
    "spare,crash", [(False, False), (True, False), (False, True)], ids=["one-node", "two-nodes", "one-node-SIGKILL"]
)
def test_downloads_survive_a_restart_of_their_supernode_p2p(tmp_path, origin, spare, crash):
    content = os.urandom(24 * MIB)
    (origin.root / "restart.bin").write_bytes(content)
    url = origin.url + "/restart.bin"
    procs = []

    def start(name, ports=None):
        proc, api, download = start_supernode(str(tmp_path / name), str(tmp_path / f"{name}.out"), ports=ports)
        procs.append(proc)
        return proc, api, download

    try:
        nodes = [start("a")]
        if spare:
            nodes.append(start("b"))
        addrs = [f"127.0.0.1:{api}" for _, api, _ in nodes]
        first = failover_order(parse_nodes(addrs), url)[0].addr
        proc, api, download = nodes[addrs.index(first)]
        runner = DfgetRunner(tmp_path, node=",".join(addrs))
        running = [
            runner.start("-u", url, "-o", str(tmp_path / f"out{i}"), "-s", "2M", "--notbs", home=f"h{i}")
            for i in range(CLIENTS)
        ]
        wait_until(
            lambda: all(runner.pieces_done(f"h{i}") >= 2 for i in range(CLIENTS)),
            120,
            "every client to hold two pieces",
        )
        before = [runner.pieces_done(f"h{i}") for i in range(CLIENTS)]
        if crash:
            kill_tree(proc.pid)  # SIGKILL, master and worker
            proc.stop()
        else:
            proc.stop()  # SIGTERM to the group
        start(f"{first.split(':')[1]}-again", ports=(api, download))  # same ports, fresh state
        results = [runner.wait(p, timeout=240) for p in running]
        for i, r in enumerate(results):
            assert r.returncode == 0, r.stdout[-1500:] + r.stderr[-1500:]  # --notbs: P2P or nothing
            assert hashlib.sha256((tmp_path / f"out{i}").read_bytes()).digest() == hashlib.sha256(content).digest()
            assert r.stdout.splitlines()[-1].endswith("reason:0")
        logs = [
            pathlib.Path(os.path.join(runner.home(f"h{i}"), "logs", "dfclient.log")).read_text(errors="replace")
            for i in range(CLIENTS)
        ]
        after = [pieces_logged(text)[n:] for text, n in zip(logs, before, strict=True)]
        assert all(after), "every client fetched pieces after the restart"
        sources = {
            p["dstCid"].split(":")[0] if p["dstCid"].startswith("cdnnode:") else "peer"
            for pieces in after
            for p in pieces
        }
        nodes_after = {p["superNode"] for pieces in after for p in pieces}
        rejoined = sum("registering with it again" in text or "is back; registered again" in text for text in logs)
        announced = [int(n) for text in logs for n in re.findall(r"announced (\d+) of \d+ held pieces", text)]
        print(
            f"\nFIGURE restart ({'two nodes' if spare else 'one node'}{', SIGKILL' if crash else ''}): "
            f"{rejoined}/{CLIENTS} clients registered "
            f"again with {first} and announced {announced} pieces they held; pieces after the restart from "
            f"{sorted(sources)} via {sorted(nodes_after)}"
        )
        assert sources <= {"cdnnode", "peer"}
        assert len(announced) >= CLIENTS and all(announced)  # the new instance knows what they hold
        if not spare:
            assert nodes_after == {first} and rejoined == CLIENTS
        # the new instance found the CDN file on disk or resumed it: the origin sent at most one
        # more copy, to that CDN, never one per client
        assert origin.stats()["bytes"]["/restart.bin"] <= (2 + len(nodes) - 1) * len(content)
    finally:
        if "runner" in locals():
            runner.stop_all()
        for p in procs:
            p.stop()
