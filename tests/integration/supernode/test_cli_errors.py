"""`supernode` refuses what it cannot run with, in one line and exit status 2 (no traceback, no
server that keeps retrying a bind): an unusable home directory, a port another process holds."""

import socket

import pytest
from click.testing import CliRunner

from supernode import listeners
from supernode.cli import main
from tests.support.procs import free_port


def run(*args):
    return CliRunner().invoke(main, ["--listen-address", "127.0.0.1", "--advertise-ip", "127.0.0.1", *args])


def test_an_unusable_home_dir_is_one_clear_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run("--home-dir", str(blocker / "home"), "--port", str(free_port()), "--download-port", str(free_port()))
    assert result.exit_code == 2
    assert "cannot use --home-dir" in result.output and "Traceback" not in result.output


def test_a_port_in_use_fails_at_once_naming_the_flag(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        result = run("--home-dir", str(tmp_path / "home"), "--port", str(port), "--download-port", str(free_port()))
        assert result.exit_code == 2
        assert f"127.0.0.1:{port}" in result.output and "--port" in result.output
        result = run("--home-dir", str(tmp_path / "home"), "--port", str(free_port()), "--download-port", str(port))
        assert result.exit_code == 2 and "--download-port" in result.output


def test_the_same_port_for_both_flags_fails_at_once_naming_the_second():
    """Both sockets set SO_REUSEADDR, so the second bind of one port succeeds while the first is
    not yet listening; only listen() finds the clash. (A test once gave the supernode the same
    free port twice and got a gunicorn traceback instead of this line.)"""
    port = free_port()
    with pytest.raises(listeners.PortUnavailable, match=f"127.0.0.1:{port} .*in use.*--download-port"):
        listeners.bind("127.0.0.1", [("--port", port), ("--download-port", port)])
    with socket.socket() as again:  # all or nothing: the first socket was closed
        again.bind(("127.0.0.1", port))


def test_a_failed_start_leaves_no_port_bound(tmp_path):
    """Both ports are bound before anything starts, all or nothing: the API port bound first is
    released when the download port turns out to be taken."""
    api = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        result = run(
            "--home-dir", str(tmp_path / "home"), "--port", str(api), "--download-port", str(holder.getsockname()[1])
        )
    assert result.exit_code == 2
    with socket.socket() as again:
        again.bind(("127.0.0.1", api))
