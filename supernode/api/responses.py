"""How the supernode answers: v1's newline-terminated JSON, ResultInfo envelopes for /peer/*,
`{"code","message"}` bodies with real HTTP statuses everywhere else (docs/decisions.md #3)."""

import json
from functools import wraps

from flask import Response, request

from common.errors import BadInput
from common.protocol.messages import ResultInfo
from common.protocol.rest_messages import ApiError
from supernode.api.current import dragonfly
from supernode.api.peer_calls import refusal
from supernode.errors import NotFound


def json_text(payload) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False) + "\n"


def json_response(payload, status: int = 200) -> Response:
    return Response(json_text(payload), status=status, mimetype="application/json")


def result_info(info: ResultInfo) -> Response:
    """The /peer/* envelope: always HTTP 200, the outcome is in `code`."""
    return json_response(info.encode())


def internal_error(e: Exception) -> ApiError:
    """A 500 names the kind of failure, never its text (which may quote input or file paths)."""
    return ApiError(500, f"internal error: {type(e).__name__}")


def api_error(status: int, message: str) -> Response:
    return json_response(ApiError(status, message).encode(), status)


def peer_protocol(handler):
    """Legacy /peer/* handlers: bad input -> ResultInfo 501, unknown ids -> 502 (HTTP 200)."""

    @wraps(handler)
    def wrapper(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except (BadInput, NotFound) as e:
            return result_info(refusal(e))

    return wrapper


def rest(handler):
    """REST handlers: bad input -> 400, unknown ids -> 404, with `{"code","message"}`."""

    @wraps(handler)
    def wrapper(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except BadInput as e:
            return api_error(400, str(e))
        except NotFound as e:
            return api_error(404, str(e))

    return wrapper


def requires_token(handler):
    """State-changing management calls need `Authorization: Bearer <apiToken>` when one is set."""

    @wraps(handler)
    def wrapper(*args, **kwargs):
        token = dragonfly().settings.api_token
        if token and request.headers.get("Authorization", "") != f"Bearer {token}":
            return api_error(401, "this call needs 'Authorization: Bearer <apiToken>'")
        return handler(*args, **kwargs)

    return wrapper


def json_body(required: bool = True):
    """The request's JSON object (any content type); BadInput when it is not one."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise BadInput("request body must be a JSON object")
        return {}
    try:
        body = json.loads(raw)
    except ValueError as e:
        raise BadInput(f"request body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise BadInput("request body must be a JSON object")
    return body
