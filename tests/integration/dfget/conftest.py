import random

import pytest
from click.testing import CliRunner

from dfget.cli import main
from dfget.services import Services
from tests.integration.dfget.fakes import origin_app, serve


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


@pytest.fixture
def dfget(tmp_path, home):
    """Run `dfget ARGS` in-process; no config file is read; returns click's Result."""

    def invoke(*args, services=None, with_home=True):
        argv = [*args, *(["--home", str(home)] if with_home else [])]
        obj = {"config_files": [str(tmp_path / "none.yml")], "services": services or Services(rng=random.Random(7))}
        return CliRunner().invoke(main, argv, obj=obj, catch_exceptions=False)

    return invoke


@pytest.fixture
def origin():
    """An origin HTTP server; put files in `origin.files`; yields (files, base_url, app)."""
    files: dict[str, bytes] = {}
    app = origin_app(files)
    with serve(app) as port:
        yield files, f"http://127.0.0.1:{port}", app
