"""CLI contracts of dfget through click's CliRunner: exit statuses and stdout lines (docs/operations.md#running)."""

import http.server
import os
import re
import threading

import pytest

from dfget.status import ExitStatus


def test_no_url_is_a_usage_error(dfget):
    result = dfget()
    assert result.exit_code == ExitStatus.USAGE == 1
    assert "url" in result.stderr


@pytest.mark.parametrize("url", ["ftp://example.com/a", "example.com/a", "http://", "file:///etc/passwd"])
def test_bad_url_or_scheme_is_a_usage_error(dfget, tmp_path, url):
    result = dfget("-u", url, "-o", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "invalid url" in result.stderr
    assert result.stdout == ""


def test_output_that_is_a_directory_is_a_usage_error(dfget, tmp_path):
    result = dfget("-u", "http://127.0.0.1:1/a.bin", "-o", str(tmp_path))
    assert result.exit_code == 1
    assert "is a directory" in result.stderr


def test_default_output_is_a_directory_in_cwd(dfget, tmp_path, monkeypatch):
    (tmp_path / "a.bin").mkdir()
    monkeypatch.chdir(tmp_path)
    assert dfget("-u", "http://127.0.0.1:1/a.bin").exit_code == 1


@pytest.mark.parametrize(
    "flag,value",
    [
        ("--locallimit", "12Q"),
        ("--minrate", "fast"),
        ("--totallimit", "-3"),
        ("--timeout", "5 minutes"),
        ("--expiretime", "3x"),
        ("--pattern", "torrent"),
        ("--node", "host:port"),
        ("--node", "h:8002=0"),
    ],
)
def test_bad_values_are_usage_errors(dfget, tmp_path, flag, value):
    result = dfget("-u", "http://127.0.0.1:1/a", "-o", str(tmp_path / "a"), flag, value)
    assert result.exit_code == 1
    assert "invalid configuration" in result.stderr


def test_unknown_flag_exits_1_not_2(dfget):
    assert dfget("--no-such-flag").exit_code == 1


def test_every_bad_value_is_reported_at_once(dfget, tmp_path):
    result = dfget("-u", "gopher://x", "--minrate", "fast", "--timeout", "soon")
    assert result.exit_code == 1
    for key in ("url", "minRate", "timeout"):
        assert key in result.stderr


def test_version_subcommand_prints_v1_format(dfget):
    result = dfget("version", with_home=False)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[1] == "dfget version  1.0.6"
    assert lines[2].startswith("  Git commit:     ")
    assert lines[3].startswith("  Build date:     ")
    assert lines[4].startswith("  Go version:     ")
    assert re.match(r"  OS/Arch:        \w+/\w+", lines[5])


def test_server_subcommand_exists(dfget):
    result = dfget("server", "--help", with_home=False)
    assert result.exit_code in (0, ExitStatus.LAUNCH_SERVER)


def test_unreachable_supernode_with_notbs_fails_like_v1(dfget, tmp_path):
    out = tmp_path / "out.bin"
    result = dfget(
        "-u", "http://127.0.0.1:1/a.bin", "-o", str(out), "--node", "127.0.0.1:1", "--notbs", "--pattern", "cdn"
    )
    assert result.exit_code == ExitStatus.DOWNLOAD == 80
    last = result.stdout.splitlines()[-1]
    assert re.fullmatch(
        r"download FAIL\(1104\) cost:\d+\.\d{3}s length:-1 reason:1001 "
        r'error:\{"Code":1104,"Msg":"failed to download file from source: '
        r'download fail and not back source: 1001"\}',
        last,
    ), last
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(("dfget-", "backsource."))]


def test_source_pattern_downloads_identical_bytes(dfget, tmp_path, origin):
    files, base, app = origin
    files["f.bin"] = os.urandom(300_001)
    out = tmp_path / "sub" / "f.bin"
    result = dfget("-u", f"{base}/f.bin", "-o", str(out), "--pattern", "SOURCE")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == files["f.bin"]
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"--\d{4}-\d\d-\d\d \d\d:\d\d:\d\d--  " + re.escape(f"{base}/f.bin"), lines[0])
    assert lines[1] == "dfget version:1.0.6"
    assert lines[2].startswith("workspace:")
    assert re.fullmatch(r"sign:\d+-\d+\.\d{3}", lines[3])
    assert lines[4] == "start download f.bin from the source station"
    assert re.fullmatch(r"download SUCCESS cost:\d+\.\d{3}s length:300001 reason:100", lines[5])
    assert not [p for p in os.listdir(out.parent) if p != "f.bin"]


def test_source_pattern_against_stdlib_http_server(dfget, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "normal.txt").write_bytes(b"hello Dragonfly")
    (root / "empty.txt").write_bytes(b"")
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        for name, data in (("normal.txt", b"hello Dragonfly"), ("empty.txt", b"")):
            out = tmp_path / name
            assert dfget("-u", f"{base}/{name}", "-o", str(out), "-p", "source").exit_code == 0
            assert out.read_bytes() == data
        assert dfget("-u", f"{base}/notExist.txt", "-o", str(tmp_path / "x"), "-p", "source").exit_code != 0
    finally:
        server.shutdown()
        server.server_close()


def test_source_404_fails_and_leaves_nothing(dfget, tmp_path, origin):
    files, base, _ = origin
    out = tmp_path / "missing.bin"
    result = dfget("-u", f"{base}/missing.bin", "-o", str(out), "--pattern", "source")
    assert result.exit_code == ExitStatus.DOWNLOAD
    assert "response code:404" in result.stdout.splitlines()[-1]
    assert not out.exists()
    assert os.listdir(tmp_path) == ["home"] or sorted(os.listdir(tmp_path)) == ["home"]


def test_source_md5_mismatch_fails_and_keeps_old_output(dfget, tmp_path, origin):
    files, base, _ = origin
    files["a"] = b"new content"
    out = tmp_path / "a"
    out.write_bytes(b"old")
    result = dfget("-u", f"{base}/a", "-o", str(out), "-p", "source", "--md5", "0" * 32)
    assert result.exit_code == 80
    assert "md5 not match" in result.stdout
    assert out.read_bytes() == b"old"


def test_register_failure_goes_back_to_source(dfget, tmp_path, origin):
    files, base, _ = origin
    files["b"] = b"x" * 1000
    out = tmp_path / "b"
    from tests.support.procs import free_port

    dead = f"127.0.0.1:{free_port()}"  # closed (port 1 may be taken on a shared machine)
    result = dfget("-u", f"{base}/b", "-o", str(out), "-n", dead, "-p", "cdn")
    assert result.exit_code == 0
    assert out.read_bytes() == files["b"]
    assert result.stdout.splitlines()[-1].endswith("length:1000 reason:1")


def test_showbar_draws_on_stderr_only(dfget, tmp_path, origin):
    files, base, _ = origin
    files["c"] = b"y" * 5000
    out = tmp_path / "c"
    result = dfget("-u", f"{base}/c", "-o", str(out), "-p", "source", "--showbar")
    assert result.exit_code == 0
    assert "100%" in result.stderr and "4.9KiB" in result.stderr
    assert "%" not in result.stdout


def test_log_file_in_v1_format(dfget, tmp_path, origin, home):
    files, base, _ = origin
    files["d"] = b"z"
    dfget("-u", f"{base}/d", "-o", str(tmp_path / "d"), "-p", "source")
    log = (home / "logs" / "dfclient.log").read_text()
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO sign:\d+-\d+\.\d{3} : download SUCCESS", log, re.M)


def test_gen_doc_says_where_it_wrote_and_fails_cleanly_where_it_cannot(tmp_path):
    from click.testing import CliRunner

    from dfget.cli import main

    res = CliRunner().invoke(main, ["gen-doc", "--path", str(tmp_path / "docs")])
    assert res.exit_code == 0 and res.output == f"generated {tmp_path / 'docs' / 'dfget.md'}\n"
    assert "--locallimit" in (tmp_path / "docs" / "dfget.md").read_text()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    res = CliRunner().invoke(main, ["gen-doc", "--path", str(blocker / "sub")])
    assert res.exit_code == ExitStatus.USAGE and isinstance(res.exception, SystemExit)
    assert res.output.startswith(f"Error: cannot write {blocker / 'sub' / 'dfget.md'}:")


def test_config_default_prints_the_effective_file_settings(tmp_path):
    """docs/operations.md: every program has `config default` (dfget had none: 'No such command')."""
    import yaml
    from click.testing import CliRunner

    from dfget.cli import main

    conf = tmp_path / "dfget.yml"
    conf.write_text("nodes: ['sn1:8002', 'sn2']\nlocalLimit: 30M\n")
    res = CliRunner().invoke(main, ["config", "default"], obj={"config_files": [str(conf)]})
    assert res.exit_code == 0, res.output
    shown = yaml.safe_load(res.output)
    assert shown["nodes"] == ["sn1:8002=1", "sn2:8002=1"] and shown["localLimit"] == "30M"
    assert shown["minRate"] == "64K"
    conf.write_text("localLimit: fast\n")
    res = CliRunner().invoke(main, ["config", "default"], obj={"config_files": [str(conf)]})
    assert res.exit_code == ExitStatus.USAGE and "localLimit" in res.output
