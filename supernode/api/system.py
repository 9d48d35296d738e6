"""System routes: ping, version, Prometheus metrics, dfget's end-of-download report, route lists."""

import re

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from common.protocol import paths
from common.protocol.codes import ResultCode
from common.protocol.messages import TaskMetricsRequest
from common.protocol.rest_messages import VersionInfo
from common.version import BUILD_DATE, REVISION, VERSION, arch, runtime_version
from supernode.api.current import dragonfly
from supernode.api.responses import json_body, json_response, rest

blueprint = Blueprint("system", __name__)

# The three route categories of docs/protocol.md#conventions and the blueprints that make them up.
CATEGORIES = {
    "/": ("legacy api", "", ("legacy", "system")),
    paths.API_V1 + "/": ("v1 api", paths.API_V1, ("v1", "preheat")),
    paths.API_EXT + "/": ("extension api", paths.API_EXT, ()),
}


@blueprint.get(paths.PING)
def ping():
    return Response("OK", mimetype="text/plain")


@blueprint.get(paths.VERSION)
def version():
    info = VersionInfo(
        arch=arch(), build_date=BUILD_DATE, go_version=runtime_version(), os="linux", version=VERSION, revision=REVISION
    )
    return json_response(info.encode())


@blueprint.get(paths.METRICS)
def metrics():
    df = dragonfly()
    df.service.refresh_gauges()
    return Response(generate_latest(df.metrics.registry), mimetype=CONTENT_TYPE_LATEST)


@blueprint.post(paths.TASK_METRICS)
@rest
def task_metrics():
    req = TaskMetricsRequest.decode(json_body())
    dragonfly().service.report_metrics(req)
    return json_response({"code": int(ResultCode.SUCCESS), "msg": ResultCode.SUCCESS.default_msg})


def go_style(rule: str) -> str:
    """Flask's `<peer_id>` -> v1's `{id}`-style template, as used in lists and metric labels."""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: "{" + _GO_NAMES.get(m.group(1), m.group(1)) + "}", rule)


_GO_NAMES = {"peer_id": "id", "task_id": "id", "preheat_id": "id", "piece_range": "pieceRange"}


def _list_routes(category_path: str):
    name, prefix, blueprints = CATEGORIES[category_path]
    api = []
    for rule in current_app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in blueprints or rule.rule in CATEGORIES:
            continue
        if prefix and not rule.rule.startswith(prefix + "/") or not prefix and rule.rule.startswith("/api/"):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            api.append({"method": method, "path": go_style(rule.rule)})
    api.sort(key=lambda r: (r["path"], r["method"]))
    return json_response({"category": name, "prefix": prefix, "api": api})


for _path in CATEGORIES:
    blueprint.add_url_rule(
        _path, f"list_{CATEGORIES[_path][0].split()[0]}", lambda _p=_path: _list_routes(_p), methods=["GET"]
    )
