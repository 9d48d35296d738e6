"""The hot /peer/* GET calls (docs/protocol.md#supernode-legacy-peer-protocol) as plain functions
of (service, query, caller), free of Flask: one definition behind both the Flask views
(`peer_protocol.py`) and the lean WSGI path (`lean_peer_routes.py`), so both answer alike.

A call returns the ResultInfo to send, or None for an empty HTTP 200 (`/peer/piece/error`, as v1).
`answer` maps the caller's faults the way the legacy protocol does: bad input -> 501, an unknown
task or client -> 502, both on HTTP 200.
"""

from collections.abc import Callable, Mapping

from common.errors import BadInput
from common.protocol import paths
from common.protocol.codes import ResultCode
from common.protocol.messages import (
    HEADER_CLIENT_KEY,
    PieceErrorRequest,
    PieceSuccessRequest,
    PullPieceTaskRequest,
    ResultInfo,
    ServiceDownRequest,
)
from supernode.core.identity import Caller
from supernode.errors import NotFound

_KEY_ENVIRON = "HTTP_" + HEADER_CLIENT_KEY.upper().replace("-", "_")


def caller_of(environ: Mapping) -> Caller:
    """Who sent the request: the connection's address and the client key it carried, if any
    (supernode/core/identity.py). Read from the WSGI environ as werkzeug's `request` reads it."""
    return Caller(addr=environ.get("REMOTE_ADDR") or "", key=(environ.get(_KEY_ENVIRON) or "").strip())


def pull(service, query, caller: Caller) -> ResultInfo:
    return service.pull(PullPieceTaskRequest.decode(query, from_strings=True), caller)


def piece_success(service, query, caller: Caller) -> ResultInfo:
    return service.piece_success(PieceSuccessRequest.decode(query, from_strings=True), caller)


def piece_error(service, query, caller: Caller) -> None:
    service.piece_error(PieceErrorRequest.decode(query, from_strings=True), caller)
    return None


def service_down(service, query, caller: Caller) -> ResultInfo:
    return service.service_down(ServiceDownRequest.decode(query, from_strings=True), caller)


PeerCall = Callable[..., ResultInfo | None]

# path -> call, for the GET routes both paths serve
GET_CALLS: "dict[str, PeerCall]" = {
    paths.PEER_TASK: pull,
    paths.PEER_PIECE_SUC: piece_success,
    paths.PEER_PIECE_ERROR: piece_error,
    paths.PEER_SERVICE_DOWN: service_down,
}


def refusal(error: Exception) -> "ResultInfo | None":
    """The legacy answer to a caller's fault, or None when `error` is not one."""
    if isinstance(error, BadInput):
        return ResultInfo.of(ResultCode.PARAM_ERROR, str(error))
    if isinstance(error, NotFound):
        return ResultInfo.of(ResultCode.TARGET_NOT_FOUND, str(error))
    return None


def answer(call: PeerCall, service, query, caller: Caller) -> "ResultInfo | None":
    try:
        return call(service, query, caller)
    except (BadInput, NotFound) as e:
        return refusal(e)
