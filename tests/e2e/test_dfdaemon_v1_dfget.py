"""Our dfdaemon with v1's Go dfget as `--dfpath` (v1 compatibility, docs/operations.md#dfdaemon-downloads):
an image pulled through the mirror (skopeo, as docker would) goes through the Go dfget, one process
per blob, and our supernode. Skipped when the v1 Go binaries are not on this machine
(`$DRAGONFLY_V1GO`, else `<repo>/../shared/v1go`)."""

import os

import pytest
import requests

from tests.e2e.dfdaemon_support.images import build_image, push
from tests.e2e.dfdaemon_support.lab import Dfdaemon, skopeo_pull, start_registry
from tests.support.dfget_runs import end_pids, upload_server_pids
from tests.support.procs import free_port

pytestmark = pytest.mark.e2e


def test_a_pull_through_our_dfdaemon_runs_v1s_go_dfget(tmp_path, supernode, go_dfget, ended_by_pid):
    proc, registry = start_registry(str(tmp_path))
    ended_by_pid(proc)
    image = build_image(3)
    push(registry, "library/delta", "1", image)
    # an explicit upload port: the clock-derived ones of a shared host may be another test's
    daemon = Dfdaemon(
        str(tmp_path),
        "host1",
        registry,
        f"127.0.0.1:{supernode.api_port}",
        config={"dfget_flags": ["--port", str(free_port())]},
        dfpath=go_dfget,
    )
    try:
        assert skopeo_pull(str(tmp_path), daemon.port, "library/delta:1") == image.layer_digests
        urls = requests.get(supernode.api_url + "/api/v1/tasks", timeout=5).text
        for digest in image.layer_digests:
            assert f"/v2/library/delta/blobs/{digest}" in urls, urls
        assert daemon.metric('dragonfly_dfdaemon_layer_requests_total{via="dfget"}') >= 3
        assert daemon.metric("dragonfly_dfdaemon_fallbacks_total") == 0, daemon.logs()[-3000:]
        # it was the Go dfget that ran: its own log, in dfdaemon's work home
        with open(os.path.join(daemon.home, "logs", "dfclient.log"), errors="replace") as f:
            client_log = f.read()
        for digest in image.layer_digests:
            assert digest in client_log
    finally:
        daemon.stop()
        end_pids(upload_server_pids(daemon.home))
