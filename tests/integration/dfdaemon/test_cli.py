"""The dfdaemon command: v1 exit codes for configuration problems, subcommands."""

import stat

import pytest
import yaml
from click.testing import CliRunner

from dfdaemon.cli import main as cli


@pytest.fixture
def env(tmp_path):
    return {"HOME": str(tmp_path)}


def fake_dfget(tmp_path, version_rc=0):
    p = tmp_path / "dfget"
    p.write_text(f"#!/bin/sh\nexit {version_rc}\n")
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return str(p)


@pytest.mark.parametrize(
    "args,code",
    [
        (["--port", "80"], 14),
        (["--port", "lots"], 14),
        (["--ratelimit", "fast"], 13),
        (["--localrepo", "relative/repo"], 12),
        (["--dfpath", "/nonexistent/dfget"], 15),
    ],
)
def test_config_errors_exit_with_v1_codes(tmp_path, env, args, code):
    res = CliRunner().invoke(cli, ["--workHome", str(tmp_path), "--dfpath", fake_dfget(tmp_path), *args], env=env)
    assert res.exit_code == code, res.output


def test_bad_config_file_exits_10_and_lists_every_bad_field(tmp_path, env):
    f = tmp_path / "d.yml"
    f.write_text("port: 1\nratelimit: fast\nproxies: [{regx: '('}]\n")
    res = CliRunner().invoke(cli, ["--config", str(f)], env=env)
    assert res.exit_code == 14
    assert "port" in res.output and "ratelimit" in res.output and "proxies" in res.output
    f.write_text("proxies: [: bad")
    assert CliRunner().invoke(cli, ["--config", str(f)], env=env).exit_code == 10
    assert CliRunner().invoke(cli, ["--config", str(tmp_path / "missing.yml")], env=env).exit_code == 10


def test_dfget_version_failure_exits_17(tmp_path, env):
    res = CliRunner().invoke(cli, ["--workHome", str(tmp_path), "--dfpath", fake_dfget(tmp_path, 3)], env=env)
    assert res.exit_code == 17, res.output


def test_repo_that_cannot_be_created_exits_16(tmp_path, env):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = CliRunner().invoke(
        cli,
        ["--workHome", str(tmp_path), "--dfpath", fake_dfget(tmp_path), "--localrepo", str(blocker / "repo")],
        env=env,
    )
    assert res.exit_code == 16, res.output


def test_config_default_file_env_and_flags(tmp_path, env):
    f = tmp_path / "d.yml"
    f.write_text(
        "registry_mirror: {remote: 'http://127.0.0.1:5000', insecure: true}\nsupernodes: [a:8002]\n"
        "dfget_flags: ['--verbose']\nport: 12345\n"
    )
    res = CliRunner().invoke(
        cli,
        ["--config", str(f), "--dfpath", fake_dfget(tmp_path), "--node", "b:8002,c", "config", "default"],
        env={**env, "DFDAEMON_PORT": "23456"},
    )
    assert res.exit_code == 0, res.output
    tree = yaml.safe_load(res.output)
    assert tree["registry_mirror"] == {
        "remote": "http://127.0.0.1:5000",
        "insecure": True,
        "certs": [],
        "direct": False,
    }
    assert tree["supernodes"] == ["b:8002", "c"] and tree["port"] == 23456 and tree["dfget_flags"] == ["--verbose"]
    assert tree["workHome"] == str(tmp_path / ".small-dragonfly")
    assert tree["localrepo"] == str(tmp_path / ".small-dragonfly" / "dfdaemon" / "data") + "/"
    assert tree["ratelimit"] == "20M" and tree["logConfig"]["path"].endswith("logs/dfdaemon.log")


def test_shipped_conf_file_is_the_defaults(tmp_path, env):
    import os

    conf = os.path.join(os.path.dirname(__file__), "..", "..", "..", "conf", "dfdaemon.yml")
    res = CliRunner().invoke(cli, ["--config", conf, "--dfpath", fake_dfget(tmp_path), "config", "default"], env=env)
    assert res.exit_code == 0, res.output
    assert yaml.safe_load(res.output)["port"] == 65001


def test_version_and_gen_doc(tmp_path):
    res = CliRunner().invoke(cli, ["version"])
    assert res.exit_code == 0 and res.output.startswith("dfdaemon version  1.0.6\n  Git commit:")
    res = CliRunner().invoke(cli, ["gen-doc", "--path", str(tmp_path)])
    assert res.exit_code == 0 and "--registry" in (tmp_path / "dfdaemon.md").read_text()
    assert res.output == f"generated {tmp_path / 'dfdaemon.md'}\n"  # says where (was silent)


def test_gen_doc_to_a_path_that_cannot_be_written_is_one_line_and_exit_1(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    res = CliRunner().invoke(cli, ["gen-doc", "--path", str(blocker / "sub")])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit)
    assert res.output.startswith(f"Error: cannot write {blocker / 'sub' / 'dfdaemon.md'}:")
    assert "Traceback" not in res.output
