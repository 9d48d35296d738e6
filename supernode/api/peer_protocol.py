"""The legacy peer protocol v1 dfget speaks (docs/protocol.md#supernode-legacy-peer-protocol): ResultInfo envelopes on HTTP 200."""
from flask import Blueprint, jsonify, request

from common.protocol import paths
from common.protocol.messages import (
    HEADER_CLIENT_KEY,
    PieceErrorRequest,
    PieceSuccessRequest,
    PullPieceTaskRequest,
    RegisterRequest,
    ServiceDownRequest,
)
from supernode.api.current import dragonfly
from supernode.api.responses import json_body, peer_protocol, result_info
from supernode.core.identity import Caller

blueprint = Blueprint("legacy", __name__)


def _service():
    return dragonfly().service


def caller() -> Caller:
    """Who sent this request: the connection's address and the client key it carried, if any."""
    return Caller(addr=request.remote_addr or "", key=(request.headers.get(HEADER_CLIENT_KEY) or "").strip())


def _register_body() -> dict:
    """JSON (keys in any case) or, as v1 also accepted, a form-encoded body."""
    if request.mimetype == "application/x-www-form-urlencoded":
        return request.form
    return json_body()


@blueprint.post(paths.PEER_REGISTRY)
@peer_protocol
def register():
    form = request.mimetype == "application/x-www-form-urlencoded"
    req = RegisterRequest.decode(_register_body(), from_strings=form)
    super_node_ip = req.super_node_ip or request.host.rsplit(":", 1)[0]
    return result_info(_service().register(req, super_node_ip, caller()))


@blueprint.get(paths.PEER_TASK)
@peer_protocol
def pull_piece_tasks():
    req = PullPieceTaskRequest.decode(request.args, from_strings=True)
    return result_info(_service().pull(req, caller()))


@blueprint.get(paths.PEER_PIECE_SUC)
@peer_protocol
def piece_success():
    req = PieceSuccessRequest.decode(request.args, from_strings=True)
    return result_info(_service().piece_success(req, caller()))


@blueprint.get(paths.PEER_PIECE_ERROR)
@peer_protocol
def piece_error():
    req = PieceErrorRequest.decode(request.args, from_strings=True)
    _service().piece_error(req, caller())
    return "", 200


@blueprint.get(paths.PEER_SERVICE_DOWN)
@peer_protocol
def service_down():
    req = ServiceDownRequest.decode(request.args, from_strings=True)
    return result_info(_service().service_down(req, caller()))


# Stubs of v1's unfinished "seed pattern" (docs/protocol.md#supernode-legacy-peer-protocol); kept so v1 tools get v1's answers.
@blueprint.post(paths.PEER_NETWORK)
def network():
    return jsonify({"nodes": None})


@blueprint.post(paths.PEER_HEARTBEAT)
def heartbeat():
    return jsonify({"seedTaskIDs": None})
