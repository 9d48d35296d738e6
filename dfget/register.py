"""Registration with failover (docs/architecture.md#a-registration-post-peerregistry, docs/decisions.md #11).

Nodes are tried in the locator's order (consistent hashing of the task URL), skipping the node
in use when migrating. 609 (wait auth) retries the same node up to 3 times, 1 s apart. The first
answer 200, 607 or 608 ends the search; a transport error, a non-200 HTTP status or another code
moves on to the next node.

A supernode restarted in place (same address, state lost) answers the next pull "unknown task"
(502), or refuses connections while it restarts. Without the two rules below, one restart sent
every running client to the source at once:

* "unknown task" from a node that answers: `rejoin` registers with that same node again, at once,
  before any other node is tried (the swarm's other peers come back to it too; another node
  would fetch the file from the source once more). At most MAX_REJOINS times per download.
* A migration that finds no other node comes back to the node it left: it is asked again after
  each of COME_BACK_DELAYS (15.5 s in all, a restart under load included), at most
  MAX_COME_BACKS times per download (a node that keeps failing us must not keep us from the
  source forever). A node that answered the pull with a failure (500: its build of the file
  failed) is not asked again: it would only fail again.
"""

import base64
import logging

from common.errors import BadInput
from common.nodes import Node
from common.protocol import paths
from common.protocol.codes import ResultCode
from common.protocol.messages import RegisterRequest, RegisterResult
from common.version import VERSION
from dfget.core.locator import Locator
from dfget.errors import DfgetError
from dfget.supernode_client import SupernodeUnavailable

log = logging.getLogger(__name__)
WAIT_AUTH_RETRIES = 3
WAIT_AUTH_PAUSE = 1.0
FINAL_CODES = (ResultCode.SUCCESS, ResultCode.URL_NOT_REACHABLE, ResultCode.NEED_AUTH)
COME_BACK_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
MAX_COME_BACKS = 3
MAX_REJOINS = 3


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
        self.come_backs = 0
        self.rejoins = 0

    def request(self, node: Node) -> RegisterRequest:
        cfg, ctx = self.cfg, self.ctx
        return RegisterRequest(
            raw_url=cfg.url,
            task_url=ctx.task_url,
            cid=ctx.cid,
            ip=ctx.local_ip,
            host_name=self.hostname,
            port=ctx.peer_port,
            path=paths.peer_file_path(ctx.task_file_name),
            version=VERSION,
            md5=cfg.md5,
            identifier="" if cfg.md5 else cfg.identifier,
            call_system=cfg.call_system,
            headers=list(cfg.headers),
            dfdaemon=cfg.dfdaemon,
            insecure=cfg.insecure,
            root_cas=self._root_cas,
            super_node_ip=node.host,
            pattern=ctx.pattern,
            # the supernode may name us as the source of a piece we are still fetching
            streams_pieces=ctx.streams_pieces and ctx.pattern == "p2p" and ctx.peer_port > 0,
        )

    def register(self, skip: Node | None = None, come_back: bool = True) -> "tuple[Node, RegisterResult]":
        """`come_back`: when migrating away from `skip` finds no other node, ask `skip` again
        (only worth it when `skip` stopped answering, not when it answered with a failure)."""
        last = (0, "no other supernode to register with" if skip is not None else "no supernode to register with")
        for node in self.locator.candidates(skip):
            info = self._try(node)
            if info is None:
                last = (0, f"supernode {node.addr} is unavailable")
                continue
            last = (info.code, f"{node.addr}: code {info.code} {info.msg}".strip())
            if info.code == ResultCode.SUCCESS:
                found = self._accept(node, info)
                if found is not None:
                    return found
                last = (0, f"{node.addr}: bad registration answer")
                continue
            if info.code in FINAL_CODES:
                raise RegisterFailed(*last)
        if skip is not None and come_back and self.come_backs < MAX_COME_BACKS:
            self.come_backs += 1
            found = self._come_back(skip)
            if found is not None:
                return found
        raise RegisterFailed(*last)

    def rejoin(self, node: Node, why: str) -> "tuple[Node, RegisterResult] | None":
        """`node` answered but no longer knows our task (`why`): register with it again; None if
        it does not take us (then the caller migrates) or the per-download bound is spent."""
        if self.rejoins >= MAX_REJOINS:
            log.warning(
                "supernode %s lost the task again (%s); not registering a %s time", node.addr, why, MAX_REJOINS + 1
            )
            return None
        self.rejoins += 1
        log.warning("supernode %s lost the task (%s), probably restarted: registering with it again", node.addr, why)
        info = self._try(node)
        if info is None or info.code != ResultCode.SUCCESS:
            log.warning(
                "registering again with %s failed: %s",
                node.addr,
                "no answer" if info is None else f"code {info.code} {info.msg}".strip(),
            )
            return None
        return self._accept(node, info)

    def _accept(self, node: Node, info) -> "tuple[Node, RegisterResult] | None":
        try:
            result = RegisterResult.decode(info.data or {})
        except BadInput as e:
            log.warning("bad registration answer from %s: %s", node.addr, e)
            return None
        self.locator.current = node
        self.client.remember_key(node, self.ctx.cid, result.client_key)
        return node, result

    def _come_back(self, node: Node) -> "tuple[Node, RegisterResult] | None":
        """Nowhere else to go: ask the node we left again (it may have restarted in place)."""
        for delay in COME_BACK_DELAYS:
            self.sleep(delay)
            info = self._try(node)
            if info is None:
                continue
            if info.code == ResultCode.SUCCESS:
                log.info("supernode %s is back; registered again", node.addr)
                return self._accept(node, info)
            return None
        return None

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
