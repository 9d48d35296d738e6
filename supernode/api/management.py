"""The /api/v1 management API (docs/protocol.md#supernode-system-management-and-preheat) with docs/decisions.md #3's
statuses: 400 bad input, 404 unknown.

State-changing management calls (POST/DELETE peers, DELETE tasks) need the apiToken when one is
set; the piece-error report stays open like its legacy twin /peer/piece/error (see openapi.yaml)."""

import os

from flask import Blueprint, request

from common.errors import BadInput
from common.protocol import paths
from common.protocol.rest_messages import ApiPieceErrorRequest, PeerCreateRequest
from supernode.api.current import dragonfly
from supernode.api.peer_protocol import caller
from supernode.api.responses import json_body, json_response, requires_token, rest

blueprint = Blueprint("v1", __name__)


def _service():
    return dragonfly().service


def _non_negative_int(name: str) -> int:
    raw = request.args.get(name, "0") or "0"
    if not raw.isdigit():
        raise BadInput(f"{name} must be a non-negative integer, got {raw!r}")
    return int(raw)


@blueprint.get(paths.API_OPENAPI)
def openapi():
    """The OpenAPI 3 document of this API (supernode/api/openapi.yaml), as JSON."""
    return json_response(openapi_document())


def openapi_document() -> dict:
    import yaml

    with open(os.path.join(os.path.dirname(__file__), "openapi.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


@blueprint.post(paths.API_PEERS)
@rest
@requires_token
def create_peer():
    req = PeerCreateRequest.decode(json_body())
    return json_response(_service().create_peer(req).encode(), 201)


@blueprint.get(paths.API_PEERS)
@rest
def list_peers():
    page_num, page_size = _non_negative_int("pageNum"), _non_negative_int("pageSize")
    direction = (request.args.get("sortDirect") or "ASC").upper()
    if direction not in ("ASC", "DESC"):
        raise BadInput(f"sortDirect must be ASC or DESC, got {direction!r}")
    peers = _service().list_peers(page_num, page_size, descending=direction == "DESC")
    return json_response([p.encode() for p in peers])


@blueprint.get(paths.API_PEER)
@rest
def get_peer(peer_id):
    return json_response(_service().get_peer(peer_id).encode())


@blueprint.delete(paths.API_PEER)
@rest
@requires_token
def delete_peer(peer_id):
    _service().delete_peer(peer_id)
    return "", 200


@blueprint.get(paths.API_TASKS)
@rest
def list_tasks():
    return json_response([t.encode() for t in _service().list_tasks()])


@blueprint.get(paths.API_TASK)
@rest
def get_task(task_id):
    return json_response(_service().get_task(task_id).encode())


@blueprint.delete(paths.API_TASK)
@rest
@requires_token
def delete_task(task_id):
    full = (request.args.get("full") or "false").lower()
    if full not in ("true", "false"):
        raise BadInput(f"full must be true or false, got {full!r}")
    _service().delete_task(task_id, full == "true")
    return "", 200


@blueprint.route(paths.API_PIECE_ERROR, methods=["GET", "POST"])
@rest
def piece_error(task_id, piece_range):
    req = ApiPieceErrorRequest.decode(json_body())
    _service().api_piece_error(task_id, piece_range, req, caller())
    return "", 200


@blueprint.post(paths.API_PEER_NETWORK)
def network():
    return json_response({"nodes": None})


@blueprint.post(paths.API_PEER_HEARTBEAT)
def heartbeat():
    return json_response({"seedTaskIDs": None})
