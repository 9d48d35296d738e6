"""The web console (docs/operations.md#console): GET /console (the page), GET /api/v1/console/snapshot (JSON).
Both need the apiToken when one is set (supernode/console/core/auth.py)."""

from functools import wraps

from flask import Blueprint, Response, request

from common.protocol import paths
from supernode.api.current import dragonfly
from supernode.api.responses import api_error, json_response
from supernode.console.core import auth
from supernode.console.core.view import console_snapshot
from supernode.console.page import CONTENT_SECURITY_POLICY, HTML

blueprint = Blueprint("console", __name__)


def console_auth(handler):
    @wraps(handler)
    def wrapper(*args, **kwargs):
        if not auth.allowed(dragonfly().settings.api_token, request.headers.get("Authorization", "")):
            resp = api_error(
                401,
                "the console needs the apiToken: as the password of HTTP Basic authentication "
                "(any user name) or as 'Authorization: Bearer <apiToken>'",
            )
            resp.headers["WWW-Authenticate"] = auth.CHALLENGE
            resp.headers["Cache-Control"] = "no-store"
            return resp
        return handler(*args, **kwargs)

    return wrapper


@blueprint.get(paths.CONSOLE)
@console_auth
def page():
    return Response(
        HTML,
        mimetype="text/html",
        headers={
            "Cache-Control": "no-cache",
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
        },
    )


@blueprint.get(paths.API_CONSOLE_SNAPSHOT)
@console_auth
def snapshot():
    df = dragonfly()
    preheats = [r.record_info().encode() for r in df.preheater.all()]
    body = console_snapshot(df.service.snapshot(), df.service.console.view(), preheats, df.service.clock.time())
    resp = json_response(body)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp
