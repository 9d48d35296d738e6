"""Preheat API (docs/protocol.md#supernode-system-management-and-preheat) at /preheats and /api/v1/preheats, as Harbor's
v1 "Dragonfly" provider
expects: POST -> 201 {"ID"} or 208 {"code":208,"message":"preheat task already exists, id:<id>"};
GET /preheats/{id} -> {"ID","status","startTime","finishTime","errorMsg"} or 404; DELETE -> true.
Decisions 3 and 9: bad input 400, unknown id 404, apiToken for POST/DELETE (401), URLs outside
preheatAllow 403. The 208 body also carries "ID" first: Harbor 2.x unmarshals the 208 body into
{"ID"} and older parsers take the id from the message, which stays the last key.
"""

from flask import Blueprint

from common.protocol import paths
from common.protocol.rest_messages import PreheatCreateResponse
from supernode.api.current import dragonfly
from supernode.api.responses import (
    api_error,
    json_body,
    json_response,
    requires_token,
    rest,
)
from supernode.core.preheat import (
    Submit,
    allowed,
    already_exists_message,
    parse_request,
)
from supernode.preheat.preheater import Preheater

blueprint = Blueprint("preheat", __name__)


def preheater() -> Preheater:
    return dragonfly().preheater


def create():
    spec = parse_request(json_body())
    allow = dragonfly().settings.preheat_allow
    if not allowed(spec.url, allow):
        return api_error(403, f"url {spec.url} is not allowed by preheatAllow")
    kind, preheat_id = preheater().create(spec)
    if kind is Submit.EXISTS:
        return json_response({"ID": preheat_id, "code": 208, "message": already_exists_message(preheat_id)}, 208)
    return json_response(PreheatCreateResponse(id=preheat_id).encode(), 201)


def list_all():
    return json_response([r.record_info().encode() for r in preheater().all()])


def get_one(preheat_id):
    return json_response(preheater().get(preheat_id).status_info().encode())


def delete(preheat_id):
    preheater().delete(preheat_id)
    return json_response(True)


for prefix, (many, one) in {
    "": (paths.PREHEATS, paths.PREHEAT),
    "api_": (paths.API_PREHEATS, paths.API_PREHEAT),
}.items():
    blueprint.add_url_rule(many, f"{prefix}create", rest(requires_token(create)), methods=["POST"])
    blueprint.add_url_rule(many, f"{prefix}list", rest(list_all), methods=["GET"])
    blueprint.add_url_rule(one, f"{prefix}get", rest(get_one), methods=["GET"])
    blueprint.add_url_rule(one, f"{prefix}delete", rest(requires_token(delete)), methods=["DELETE"])
