"""After a new registration with the same piece size — a supernode restarted in place, or a
migration to another node — tell the supernode at once which pieces this client already holds,
so that it can send other peers here for them rather than all to its CDN
(docs/stopping.md#clients-during-a-restart).

Each piece is one /peer/piece/suc without a source (`dstCid` empty: no bytes are counted as
served by anyone). Only a supernode of ours is told (its registration answer carries a client
key; v1's refuses a report without a source), and only when our upload server serves the task.
One try per piece, on a background thread: the pull loop does not wait for it.
"""

import logging
import threading

from common.protocol.messages import PieceSuccessRequest
from dfget.supernode_client import SupernodeUnavailable

log = logging.getLogger(__name__)


def announce_held(client, ctx, held: "list[str]", cancelled: threading.Event) -> "threading.Thread | None":
    """Start announcing the wrapped ranges in `held` to `ctx.node`; None when there is nothing to do."""
    if not held or not ctx.client_key or ctx.pattern != "p2p" or ctx.peer_port <= 0:
        return None
    node, task_id, cid = ctx.node, ctx.task_id, ctx.cid

    def run() -> None:
        told = 0
        for piece_range in held:
            if cancelled.is_set():
                break
            try:
                told += client.piece_success(
                    node, PieceSuccessRequest(task_id=task_id, cid=cid, piece_range=piece_range)
                )
            except SupernodeUnavailable as e:
                log.warning("announcing held piece %s to %s failed: %s", piece_range, node.addr, e)
                break
        log.info("announced %s of %s held pieces to %s", told, len(held), node.addr)

    thread = threading.Thread(target=run, name="announce", daemon=True)
    thread.start()
    return thread
