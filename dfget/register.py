"""Registration with failover (spec §4.2, decisions 11).

Nodes are tried in the locator's order (consistent hashing of the task URL), skipping the node
in use when migrating. 609 (wait auth) retries the same node up to 3 times, 1 s apart. The first
answer 200, 607 or 608 ends the search; a transport error, a non-200 HTTP status or another code
moves on to the next node.
"""
import base64
import logging
from typing import Optional

from common.errors import BadInput
from common.protocol import paths
from common.protocol.codes import ResultCode
from common.protocol.messages import RegisterRequest, RegisterResult
from common.version import VERSION

from dfget.core.locator import Locator, Node
from dfget.errors import DfgetError
from dfget.supernode_client import SupernodeUnavailable

log = logging.getLogger(__name__)
WAIT_AUTH_RETRIES = 3
WAIT_AUTH_PAUSE = 1.0
FINAL_CODES = (ResultCode.SUCCESS, ResultCode.URL_NOT_REACHABLE, ResultCode.NEED_AUTH)


class RegisterFailed(DfgetError):
    def __init__(self, code: int, message: str):
        self.result_code = code
        super().__init__(message)


def read_root_cas(files) -> "list[str]":
    out = []
    for path in files:
        with open(path, "rb") as f:
            out.append(base64.b64encode(f.read()).decode("ascii"))
    return out


class Registrar:
    def __init__(self, cfg, ctx, client, locator: Locator, sleep, hostname: str):
        self.cfg, self.ctx, self.client = cfg, ctx, client
        self.locator = locator
        self.sleep = sleep
        self.hostname = hostname
        self._root_cas = read_root_cas(cfg.cacerts)

    def request(self, node: Node) -> RegisterRequest:
        cfg, ctx = self.cfg, self.ctx
        return RegisterRequest(
            raw_url=cfg.url, task_url=ctx.task_url, cid=ctx.cid, ip=ctx.local_ip, host_name=self.hostname,
            port=ctx.peer_port, path=paths.peer_file_path(ctx.task_file_name), version=VERSION,
            md5=cfg.md5, identifier="" if cfg.md5 else cfg.identifier, call_system=cfg.call_system,
            headers=list(cfg.headers), dfdaemon=cfg.dfdaemon, insecure=cfg.insecure, root_cas=self._root_cas,
            super_node_ip=node.host, pattern=ctx.pattern)

    def register(self, skip: Optional[Node] = None) -> "tuple[Node, RegisterResult]":
        last = (0, "no supernode to register with")
        for node in self.locator.candidates(skip):
            info = self._try(node)
            if info is None:
                last = (0, f"supernode {node.addr} is unavailable")
                continue
            last = (info.code, f"{node.addr}: code {info.code} {info.msg}".strip())
            if info.code == ResultCode.SUCCESS:
                try:
                    result = RegisterResult.decode(info.data or {})
                except BadInput as e:
                    last = (0, f"{node.addr}: bad registration answer: {e}")
                    continue
                self.locator.current = node
                return node, result
            if info.code in FINAL_CODES:
                break
        raise RegisterFailed(*last)

    def _try(self, node: Node):
        for attempt in range(WAIT_AUTH_RETRIES + 1):
            try:
                info = self.client.register(node, self.request(node))
            except SupernodeUnavailable as e:
                log.warning("register to %s failed: %s", node.addr, e)
                return None
            if info.code == ResultCode.WAIT_AUTH and attempt < WAIT_AUTH_RETRIES:
                self.sleep(WAIT_AUTH_PAUSE)
                continue
            return info
        return None
