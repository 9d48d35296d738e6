"""HTTP calls from dfget to a supernode (legacy peer protocol, spec §3.2)."""
import logging

import requests

from common.errors import BadInput
from common.protocol import paths
from common.protocol.codes import ResultCode
from common.protocol.messages import (PieceErrorRequest, PieceSuccessRequest, PullPieceTaskRequest,
                                      RegisterRequest, ResultInfo, TaskMetricsRequest)

from dfget.core.locator import Node
from dfget.errors import DfgetError

log = logging.getLogger(__name__)
REGISTER_TIMEOUT = 5.0
CALL_TIMEOUT = 5.0


class SupernodeUnavailable(DfgetError):
    """No usable answer: transport error, non-200 HTTP status or a body that is not ResultInfo."""


def _session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # supernodes and peers are on the local network: never via a proxy
    return s


class SupernodeClient:
    def __init__(self, session: "requests.Session | None" = None):
        self.http = session or _session()

    def _info(self, resp: requests.Response) -> ResultInfo:
        if resp.status_code != 200:
            raise SupernodeUnavailable(f"HTTP {resp.status_code}: {resp.text.strip()[:200]}")
        try:
            return ResultInfo.decode(resp.json())
        except (ValueError, BadInput) as e:
            raise SupernodeUnavailable(f"unexpected answer: {e}") from None

    def _get(self, node: Node, path: str, params, timeout: float) -> requests.Response:
        try:
            return self.http.get(f"http://{node.addr}{path}", params=params, timeout=timeout)
        except requests.RequestException as e:
            raise SupernodeUnavailable(f"{node.addr}{path}: {e}") from None

    def register(self, node: Node, req: RegisterRequest) -> ResultInfo:
        try:
            resp = self.http.post(f"http://{node.addr}{paths.PEER_REGISTRY}", json=req.encode(),
                                  timeout=REGISTER_TIMEOUT)
        except requests.RequestException as e:
            raise SupernodeUnavailable(f"register to {node.addr}: {e}") from None
        return self._info(resp)

    def pull(self, node: Node, req: PullPieceTaskRequest, timeout: float) -> ResultInfo:
        params = [(k, v) for k, v in req.query() if k != "wait" or req.wait > 0]
        return self._info(self._get(node, paths.PEER_TASK, params, timeout))

    def piece_success(self, node: Node, req: PieceSuccessRequest) -> bool:
        info = self._info(self._get(node, paths.PEER_PIECE_SUC, req.query(), CALL_TIMEOUT))
        return info.code == ResultCode.GET_PIECE_REPORT

    def piece_error(self, node: Node, req: PieceErrorRequest) -> None:
        resp = self._get(node, paths.PEER_PIECE_ERROR, req.query(), CALL_TIMEOUT)
        if resp.status_code >= 300:
            raise SupernodeUnavailable(f"piece error report: HTTP {resp.status_code}")

    def report_metrics(self, node: Node, req: TaskMetricsRequest) -> bool:
        """Sent once; any 2xx is success (v1 sent it twice because it checked `code == 1`)."""
        try:
            resp = self.http.post(f"http://{node.addr}{paths.TASK_METRICS}", json=req.encode(),
                                  timeout=CALL_TIMEOUT)
        except requests.RequestException as e:
            log.warning("failed to report metrics to supernode %s: %s", node.addr, e)
            return False
        return 200 <= resp.status_code < 300
