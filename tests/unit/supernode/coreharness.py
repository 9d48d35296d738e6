"""Build core states quickly for unit tests."""

import random

from common.protocol.codes import PieceStatus
from common.shell.clock import FakeClock
from common.source_access import Headers, SourceAccess
from supernode.core.coordinator import Coordinator, Probe, PullQuery, Registrant
from supernode.core.model import Limits

URL = "http://origin.example/file.bin"


def coordinator(**limits) -> Coordinator:
    core = Coordinator(Limits(**limits), FakeClock(), random.Random(7))
    core.start("supernode", "10.0.0.1")
    return core


def registrant(
    cid: str,
    task_id: str = "t" * 64,
    port: int = 15001,
    raw_url: str = URL,
    headers: "tuple[tuple[str, str], ...]" = (),
    **kw,
) -> Registrant:
    """A registrant of `raw_url` with `headers` (pairs), as registrant_from would build it."""
    base = dict(
        task_id=task_id,
        source=SourceAccess(raw_url, Headers(headers)),
        task_url=URL,
        cid=cid,
        ip=f"10.0.1.{hash(cid) % 200 + 1}",
        path=f"/peer/file/{cid}",
        host_name=f"host-{cid}",
        port=port,
    )
    base.update(kw)
    return Registrant(**base)


def ok_probe(length: int = 5 * 1024 * 1024) -> Probe:
    return Probe(status=200, length=length, supports_range=True)


def register(core, cid: str, **kw):
    out = core.register(registrant(cid, **kw), ok_probe())
    assert out.answer.code == 200, out.answer
    return out


def cdn_pieces(core, task_id: str, n: int) -> None:
    for p in range(n):
        core.on_piece(task_id, p, f"m{p}", 1024)


def built(core, task_id: str, n: int) -> None:
    """The CDN cut `n` pieces of 1,000 source bytes each and finished."""
    from supernode.cdn.core.contract import CdnResult

    cdn_pieces(core, task_id, n)
    core.on_done(
        task_id,
        CdnResult(success=True, real_md5="m", source_length=n * 1000, file_length=n * 1005, piece_count=n),
    )


def pid_of(core, task_id, cid) -> str:
    return core.state.dfget(task_id, cid).peer_id


def pull(core, cid, task_id="t" * 64, **kw):
    return core.pull(PullQuery(task_id=task_id, src_cid=cid, **kw)).answer


__all__ = [
    "PieceStatus",
    "built",
    "coordinator",
    "registrant",
    "ok_probe",
    "register",
    "cdn_pieces",
    "pid_of",
    "pull",
]
