"""The legacy peer protocol v1 dfget speaks (docs/protocol.md#supernode-legacy-peer-protocol): ResultInfo envelopes on
HTTP 200."""

from flask import Blueprint, jsonify, request

from common.protocol import paths
from common.protocol.messages import RegisterRequest
from supernode.api import peer_calls
from supernode.api.current import dragonfly
from supernode.api.responses import json_body, peer_protocol, result_info
from supernode.core.identity import Caller

blueprint = Blueprint("legacy", __name__)


def _service():
    return dragonfly().service


def caller() -> Caller:
    """Who sent this request: the connection's address and the client key it carried, if any."""
    return peer_calls.caller_of(request.environ)


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


# The hot GET calls are defined once in peer_calls.py; supernode/api/lean_peer_routes.py serves
# the same calls without Flask in the running supernode, these views serve them everywhere else
# (a trailing slash, HEAD, an app built with lean_peer_routes=False).
def _get_call(call):
    return lambda: _answer(call(_service(), request.args, caller()))


def _answer(info):
    return ("", 200) if info is None else result_info(info)


for _path, _call in peer_calls.GET_CALLS.items():
    blueprint.add_url_rule(_path, _call.__name__, peer_protocol(_get_call(_call)), methods=["GET"])


# Stubs of v1's unfinished "seed pattern" (docs/protocol.md#supernode-legacy-peer-protocol); kept so v1 tools get v1's
# answers.
@blueprint.post(paths.PEER_NETWORK)
def network():
    return jsonify({"nodes": None})


@blueprint.post(paths.PEER_HEARTBEAT)
def heartbeat():
    return jsonify({"seedTaskIDs": None})
