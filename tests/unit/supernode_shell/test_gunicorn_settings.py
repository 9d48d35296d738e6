"""conf/gunicorn.conf.py runs gunicorn exactly as the `supernode` command does (one definition)."""

import os
import runpy

from supernode import settings
from supernode.server import gunicorn_settings

CONF = os.path.join(os.path.dirname(__file__), "..", "..", "..", "conf", "gunicorn.conf.py")


def test_the_conf_file_and_the_command_agree(tmp_path, monkeypatch):
    cfg = tmp_path / "supernode.yml"
    cfg.write_text("base:\n  listenPort: 18002\n  downloadPort: 18001\n")
    monkeypatch.setenv("SUPERNODE_CONFIG", str(cfg))
    from_file = runpy.run_path(CONF)
    expected = gunicorn_settings(settings.load(str(cfg), explicit=True))
    assert {k: from_file[k] for k in expected} == expected
    assert from_file["workers"] == 1 and from_file["bind"][0].endswith(":18002")


def test_an_external_download_server_leaves_the_download_port_alone():
    builtin = gunicorn_settings(settings.load("/nonexistent.yml", env={}, flags={"download_port": "18001"}))
    external = gunicorn_settings(
        settings.load(
            "/nonexistent.yml", env={"SUPERNODE_DOWNLOAD_SERVER": "external"}, flags={"download_port": "18001"}
        )
    )
    assert builtin["bind"] == ["0.0.0.0:8002", "0.0.0.0:18001"]
    assert external["bind"] == ["0.0.0.0:8002"]
