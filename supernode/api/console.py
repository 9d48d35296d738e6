"""The web console (docs/decisions.md #13): GET /console (the page), GET /api/v1/console/snapshot (JSON)."""
from flask import Blueprint, Response

from common.protocol import paths
from supernode.api.current import dragonfly
from supernode.api.responses import json_response
from supernode.console.page import HTML
from supernode.console.view import console_snapshot

blueprint = Blueprint("console", __name__)


@blueprint.get(paths.CONSOLE)
def page():
    return Response(HTML, mimetype="text/html", headers={"Cache-Control": "no-cache"})


@blueprint.get(paths.API_CONSOLE_SNAPSHOT)
def snapshot():
    df = dragonfly()
    preheats = [r.record_info().encode() for r in df.preheater.all()]
    body = console_snapshot(df.service.snapshot(), preheats, df.service.clock.time())
    resp = json_response(body)
    resp.headers["Cache-Control"] = "no-store"
    return resp
