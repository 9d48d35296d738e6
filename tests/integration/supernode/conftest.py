import random

import pytest

from common.protocol.messages import PieceSuccessRequest, PullPieceTaskRequest, RegisterRequest
from common.shell.clock import FakeClock
from supernode import settings as supernode_settings
from supernode.metrics import SupernodeMetrics
from supernode.service import SupernodeService
from tests.integration.supernode.fakes import FakeCdn

URL = "http://origin.example:8009/layer.bin"
MIB = 1024 * 1024


class Harness:
    def __init__(self, cdn=None, **overrides):
        self.cdn = cdn or FakeCdn(b"".join(bytes([i]) * MIB for i in range(3)) + b"tail")
        self.clock = FakeClock()
        self.metrics = SupernodeMetrics()
        self.settings = supernode_settings.defaults(**overrides)
        self.spawned = []
        self.service = SupernodeService(
            self.settings,
            cdn=self.cdn,
            metrics=self.metrics,
            clock=self.clock,
            rng=random.Random(5),
            advertise_ip="10.0.0.1",
            spawn=lambda fn, *a: self.spawned.append((fn, a)),
        )
        self.service.start()

    def register(self, cid, url=URL, port=15001, headers=(), super_node_ip="10.0.0.1", **kw):
        req = RegisterRequest(
            raw_url=url,
            task_url=url,
            cid=cid,
            ip=f"10.0.1.{len(cid) + 1}",
            host_name=f"host-{cid}",
            port=port,
            path=f"/peer/file/{cid}",
            headers=list(headers),
            super_node_ip=super_node_ip,
            **kw,
        )
        return self.service.register(req, super_node_ip)

    def pull(self, cid, task_id, status=701, result=502, range="", dst_cid="", wait=0.0):
        return self.service.pull(
            PullPieceTaskRequest(
                src_cid=cid, task_id=task_id, status=status, result=result, range=range, dst_cid=dst_cid, wait=wait
            )
        )

    def persist(self, cid, task_id, piece):
        """What dfget does after fetching a piece: SEMISUC report, then /peer/piece/suc."""
        self.pull(cid, task_id, result=503, range=piece.range, dst_cid=piece.cid)
        return self.service.piece_success(
            PieceSuccessRequest(task_id=task_id, cid=cid, dst_cid=piece.cid, piece_range=piece.range)
        )

    def download(self, cid, task_id, max_rounds=50, answer=None):
        """Drive one client to the end; return (final answer, list of (piece, source cid))."""
        got = []
        answer = answer or self.pull(cid, task_id, status=700)
        for _ in range(max_rounds):
            if answer.code != 601:
                return answer, got
            for piece in answer.data or []:
                assert self.persist(cid, task_id, piece).code == 611
                got.append((piece.piece_num, piece.cid))
            answer = self.pull(cid, task_id)
        raise AssertionError("download did not finish")

    def sample(self, name, **labels):
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def harness():
    return Harness()
