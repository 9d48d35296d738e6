import json
import os
import stat
import sys

import pytest

from dfdaemon import settings
from dfdaemon.server import Daemon
from tests.integration.dfdaemon.fakes import Registry, serve

FAKE_DFGET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_dfget.py")


@pytest.fixture
def registry(tmp_path):
    blob_dir = tmp_path / "blobs"
    blob_dir.mkdir()
    reg = Registry(str(blob_dir))
    server = serve(reg)
    reg.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield reg
    server.shutdown()
    server.server_close()


class Harness:
    def __init__(self, tmp_path, registry):
        self.tmp = tmp_path
        self.registry = registry
        self.control_path = tmp_path / "control.json"
        self.calls_path = tmp_path / "calls.jsonl"
        self.release_path = tmp_path / "release"
        self.dfpath = tmp_path / "fake-dfget"
        self.dfpath.write_text(
            f'#!/bin/sh\nFAKE_DFGET_CONTROL={self.control_path} exec {sys.executable} {FAKE_DFGET} "$@"\n'
        )
        self.dfpath.chmod(self.dfpath.stat().st_mode | stat.S_IXUSR)
        self.control(mode="ok")
        self.daemons = []

    def control(self, **kw):
        self.control_path.write_text(
            json.dumps(
                {
                    "calls": str(self.calls_path),
                    "blobs": self.registry.blob_dir,
                    "release": str(self.release_path),
                    **kw,
                }
            )
        )

    def calls(self) -> "list[list[str]]":
        if not self.calls_path.exists():
            return []
        return [json.loads(line) for line in self.calls_path.read_text().splitlines()]

    def release(self):
        self.release_path.write_text("go")

    def start(self, **flags):
        flags = {
            "work_home": str(self.tmp / "home"),
            "dfpath": str(self.dfpath),
            "registry": self.registry.url,
            "supernodes": ["127.0.0.1:8002"],
            "direct_below": 0,
            **flags,
        }  # small test blobs via dfget too
        daemon = Daemon(settings.defaults(**flags), ["dfdaemon", "--test"])
        port = daemon.start("127.0.0.1", 0)
        self.daemons.append(daemon)
        daemon.url = f"http://127.0.0.1:{port}"
        return daemon

    def stop(self):
        self.release()
        for d in self.daemons:
            d.stop()


@pytest.fixture
def harness(tmp_path, registry):
    h = Harness(tmp_path, registry)
    yield h
    h.stop()


def metric(daemon, name: str) -> float:
    total = 0.0
    for line in daemon.metrics.render().decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total
