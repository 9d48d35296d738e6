from datetime import datetime

from dfget.core import lines


def test_stdout_lines_match_v1_exactly():
    assert (
        lines.start_line(datetime(2019, 2, 2, 18, 56, 34), "https://www.taobao.com")
        == "--2019-02-02 18:56:34--  https://www.taobao.com"
    )
    assert lines.version_line("1.0.6") == "dfget version:1.0.6"
    assert lines.workspace_line("/root/.small-dragonfly") == "workspace:/root/.small-dragonfly"
    assert lines.sign_line("96414-1549104994.143") == "sign:96414-1549104994.143"
    assert lines.connected_line("127.0.0.1", "127.0.0.1:8002") == "client:127.0.0.1 connected to node:127.0.0.1:8002"
    assert lines.START_BY_DRAGONFLY == "start download by dragonfly..."
    assert lines.success_line(0.0261, 141898, 0) == "download SUCCESS cost:0.026s length:141898 reason:0"
    assert lines.migrated_line("10.0.0.2:8002") == "migrated to node:10.0.0.2:8002"
    assert lines.back_source_line("b.test") == "start download b.test from the source station"
    assert lines.fallback_line("boom") == "failed to download by dragonfly: boom, and start try to download from source"


def test_fail_line_embeds_v1_error_rendering():
    msg = "failed to download file from source: " + lines.not_back_source_message(1001)
    assert lines.fail_line(1104, 1.5, -1, 1001, msg) == (
        'download FAIL(1104) cost:1.500s length:-1 reason:1001 error:{"Code":1104,'
        '"Msg":"failed to download file from source: download fail and not back source: 1001"}'
    )


def test_version_text():
    text = lines.version_text("dfget", "1.0.6", "abc", "2020-09-20", "python3.11.7", "linux", "amd64")
    assert text.splitlines() == [
        "",
        "dfget version  1.0.6",
        "  Git commit:     abc",
        "  Build date:     2020-09-20",
        "  Go version:     python3.11.7",
        "  OS/Arch:        linux/amd64",
    ]
