"""HTTP calls from dfget to a supernode (legacy peer protocol, docs/protocol.md#supernode-legacy-peer-protocol).

Plain keep-alive http.client (dfget.httpc), not `requests`: ~60-90 ms less start-up and ~1 ms
less CPU per call; supernodes are on the local network and never reached through a proxy.

Each supernode gives a registration its own client key (RegisterResult.client_key); every later
call about that registration carries it in HEADER_CLIENT_KEY, so that nobody else can report for
us (supernode.core.identity). A v1 supernode gives none, and then none is sent.
"""

import logging

from common.errors import BadInput
from common.nodes import Node
from common.protocol import paths
from common.protocol.codes import ResultCode
from common.protocol.messages import (
    HEADER_CLIENT_KEY,
    PieceErrorRequest,
    PieceSuccessRequest,
    PullPieceTaskRequest,
    RegisterRequest,
    ResultInfo,
    TaskMetricsRequest,
)
from dfget.errors import DfgetError
from dfget.httpc import Answer, Client, HttpError

log = logging.getLogger(__name__)
REGISTER_TIMEOUT = 5.0
CALL_TIMEOUT = 5.0


class SupernodeUnavailable(DfgetError):
    """No usable answer: transport error, non-200 HTTP status or a body that is not ResultInfo."""


class SupernodeClient:
    def __init__(self, http: "Client | None" = None):
        self.http = http or Client()
        self._keys: dict[tuple[str, str], str] = {}  # (node, cid) -> that node's client key

    def remember_key(self, node: Node, cid: str, key: str) -> None:
        """The key `node` gave registration `cid` (a re-registration there replaces it)."""
        if key:
            self._keys[(node.addr, cid)] = key
        else:
            self._keys.pop((node.addr, cid), None)

    def _key_header(self, node: Node, cid: str) -> "dict[str, str] | None":
        key = self._keys.get((node.addr, cid))
        return {HEADER_CLIENT_KEY: key} if key else None

    def _info(self, resp: Answer) -> ResultInfo:
        if resp.status != 200:
            raise SupernodeUnavailable(f"HTTP {resp.status}: {resp.text.strip()[:200]}")
        try:
            return ResultInfo.decode(resp.json())
        except (ValueError, BadInput) as e:
            raise SupernodeUnavailable(f"unexpected answer: {e}") from None

    def _call(
        self, method: str, node: Node, path: str, *, params=None, json_body=None, headers=None, timeout: float
    ) -> Answer:
        try:
            return self.http.request(
                method,
                node.host,
                int(node.port),
                path,
                params=params,
                json_body=json_body,
                headers=headers,
                timeout=timeout,
            )
        except HttpError as e:
            raise SupernodeUnavailable(f"{node.addr}{path}: {e}") from None

    def _get(self, node: Node, path: str, params, timeout: float, cid: str) -> Answer:
        return self._call("GET", node, path, params=params, headers=self._key_header(node, cid), timeout=timeout)

    def register(self, node: Node, req: RegisterRequest) -> ResultInfo:
        try:
            resp = self._call(
                "POST",
                node,
                paths.PEER_REGISTRY,
                json_body=req.encode(),
                headers=self._key_header(node, req.cid),
                timeout=REGISTER_TIMEOUT,
            )
        except SupernodeUnavailable as e:
            raise SupernodeUnavailable(f"register to {e}") from None
        return self._info(resp)

    def pull(self, node: Node, req: PullPieceTaskRequest, timeout: float) -> ResultInfo:
        params = [(k, v) for k, v in req.query() if k != "wait" or req.wait > 0]
        return self._info(self._get(node, paths.PEER_TASK, params, timeout, req.src_cid))

    def piece_success(self, node: Node, req: PieceSuccessRequest) -> bool:
        info = self._info(self._get(node, paths.PEER_PIECE_SUC, req.query(), CALL_TIMEOUT, req.cid))
        return info.code == ResultCode.GET_PIECE_REPORT

    def piece_error(self, node: Node, req: PieceErrorRequest) -> None:
        resp = self._get(node, paths.PEER_PIECE_ERROR, req.query(), CALL_TIMEOUT, req.src_cid)
        if resp.status >= 300:
            raise SupernodeUnavailable(f"piece error report: HTTP {resp.status}")

    def report_metrics(self, node: Node, req: TaskMetricsRequest) -> bool:
        """Sent once; any 2xx is success (v1 sent it twice because it checked `code == 1`)."""
        try:
            resp = self._call("POST", node, paths.TASK_METRICS, json_body=req.encode(), timeout=CALL_TIMEOUT)
        except SupernodeUnavailable as e:
            log.warning("failed to report metrics to supernode %s: %s", node.addr, e)
            return False
        return 200 <= resp.status < 300
