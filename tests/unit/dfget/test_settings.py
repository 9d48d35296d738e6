"""Config precedence (docs/operations.md#configuration-and-precedence, v1 root_test.go): first loadable file wins, flags
override."""

import pytest

from common.errors import ConfigError
from dfget.settings import load, read_properties

URL = "http://h/f"
MB = 1 << 20


@pytest.fixture
def files(tmp_path):
    yml = tmp_path / "dfget.yml"
    ini = tmp_path / "dragonfly.conf"
    return yml, ini


def cfg(files, **flags):
    return load({"url": URL, **flags}, files=[str(f) for f in files], home_dir="/home/u")


def test_defaults_without_files(files):
    c = cfg(files)
    assert [n.addr for n in c.nodes] == ["127.0.0.1:8002"]
    # no local limit unless set (v1: 20M, ~28x slower than curl on a fast link)
    assert (c.local_limit, c.min_rate, c.total_limit, c.client_queue_size) == (0, 64 * 1024, 0, 6)
    assert c.task_rate == 0
    assert c.work_home == "/home/u/.small-dragonfly" and c.log_path == "/home/u/.small-dragonfly/logs/dfclient.log"
    assert (c.pattern, c.timeout, c.expire_time, c.alive_time, c.port) == ("p2p", 0.0, 180.0, 300.0, 0)
    assert c.meta_path == "/home/u/.small-dragonfly/meta/host.meta" and c.data_dir.endswith("/data")


def test_yaml_is_read(files):
    yml, _ = files
    yml.write_text(
        "nodes: [a:8002=2, b]\nlocalLimit: 10M\nminRate: 1M\ntotalLimit: 100M\nclientQueueSize: 9\n"
        "workHome: /data/df\nlogConfig: {path: /var/log/df.log, maxSize: 10, maxBackups: 3}\n"
    )
    c = cfg(files)
    assert [(n.addr, n.weight) for n in c.nodes] == [("a:8002", 2), ("b:8002", 1)]
    assert (c.local_limit, c.min_rate, c.total_limit, c.client_queue_size) == (10 * MB, MB, 100 * MB, 9)
    assert (c.work_home, c.log_path, c.log_max_size, c.log_max_backups) == ("/data/df", "/var/log/df.log", 10, 3)


def test_first_loadable_file_wins(files):
    yml, ini = files
    ini.write_text("[node]\naddress=10.0.0.1,10.0.0.2:8003\n")
    assert [n.addr for n in cfg(files).nodes] == ["10.0.0.1:8002", "10.0.0.2:8003"]  # no YAML: INI
    yml.write_text("nodes: [y1]\n")
    assert [n.addr for n in cfg(files).nodes] == ["y1:8002"]  # YAML first
    yml.write_text("nodes: [unclosed\n")  # broken YAML: skipped
    assert [n.addr for n in cfg(files).nodes] == ["10.0.0.1:8002", "10.0.0.2:8003"]
    assert read_properties([str(ini), str(yml)])[1] == str(ini)  # order is the caller's


def test_a_broken_ini_file_is_skipped(files):
    yml, ini = files
    ini.write_text("address=10.0.0.1\n")  # no section header: configparser.Error
    yml.write_text("nodes: [y1]\n")
    assert read_properties([str(ini), str(yml)]) == ({"nodes": ["y1"]}, str(yml))
    ini.write_text("[node]\naddress=a\naddress=b\n")  # a duplicate option: configparser.Error too
    assert read_properties([str(ini)]) == ({}, None)


def test_flags_override_files_and_zero_means_not_given(files):
    yml, _ = files
    yml.write_text("nodes: [f1, f2]\nlocalLimit: 10M\ntotalLimit: 50M\nclientQueueSize: 9\nworkHome: /f\n")
    c = cfg(files, local_limit="0", total_limit="2M", client_queue_size=0, nodes=["cli:9000", "cli2"], work_home="/cli")
    assert c.local_limit == 10 * MB  # 0 on the command line: the file's value
    assert c.total_limit == 2 * MB
    assert c.client_queue_size == 9
    assert [n.addr for n in c.nodes] == ["cli:9000", "cli2:8002"]  # --node replaces the file's list
    assert c.work_home == "/cli"


def test_rates_accept_v1_units(files):
    c = cfg(files, local_limit="20m", min_rate="64KB", total_limit="1G")
    assert (c.local_limit, c.min_rate, c.total_limit) == (20 * MB, 64 * 1024, 1 << 30)
    assert cfg(files, local_limit="1024").local_limit == 1024


def test_repeated_headers_filters_and_other_flags(files):
    c = cfg(
        files,
        headers=["Accept: *", "Host: abc", "Accept: b"],
        filter="key&sign",
        pattern="CDN",
        timeout="1m30s",
        md5="m",
        identifier="i",
        notbs=True,
        ip="10.1.1.1",
        port=15001,
    )
    assert c.headers == ("Accept: *", "Host: abc", "Accept: b")
    assert c.header_map == {"Accept": "*,b", "Host": "abc"}
    assert c.filters == ("key", "sign")
    assert (c.pattern, c.timeout, c.notbs, c.ip, c.port) == ("cdn", 90.0, True, "10.1.1.1", 15001)


def test_exceed_is_a_deprecated_alias_of_timeout(files):
    assert cfg(files, exceed="20s").timeout == 20.0
    assert cfg(files, exceed="20s", timeout="5s").timeout == 5.0


def test_every_error_at_once(files):
    yml, _ = files
    yml.write_text("minRate: lots\n")
    with pytest.raises(ConfigError) as e:
        load(
            {
                "url": "ftp://x",
                "pattern": "x",
                "timeout": "soon",
                "nodes": ["a=b"],
                "port": 70000,
                "cacerts": ["/nonexistent/ca.pem"],
            },
            files=[str(yml)],
        )
    assert set(e.value.fields) == {"url", "pattern", "timeout", "nodes", "minRate", "port", "cacerts"}
    assert "(from " in e.value.fields["minRate"]


def test_the_task_rate_is_the_local_limit_else_the_total_limit_else_none(files):
    assert cfg(files, total_limit="2M").task_rate == 2 * MB
    assert cfg(files, local_limit="1M", total_limit="2M").task_rate == MB
    assert cfg(files, local_limit="3M").task_rate == 3 * MB
