import pytest

from common.errors import ConfigError
from common.shell import config as c

SCHEMA = [
    c.Setting("port", "base.listenPort", 8002, "port", parse=c.in_range(1, 65535)),
    c.duration_setting("expire", "base.taskExpireTime", "3m", "expiry"),
    c.size_setting("limit", "base.maxBandwidth", "200M", "bandwidth"),
    c.Setting("nodes", "nodes", [], "nodes", parse=c.text_list),
]


def test_defaults_yaml_env_flags_precedence(tmp_path):
    f = tmp_path / "c.yml"
    f.write_text("base:\n  listenPort: 9000\n  taskexpiretime: 5m\nnodes: [a, b]\n")
    cfg = c.load(SCHEMA, path=str(f), env={"X_LIMIT": "10M", "X_PORT": "9100"}, env_prefix="X_", flags={"port": "9200"})
    assert (cfg.port, cfg.expire, cfg.limit, cfg.nodes) == (9200, 300.0, 10 * 1024**2, ["a", "b"])
    cfg = c.load(SCHEMA, path=str(f), env={}, env_prefix="X_")
    assert cfg.port == 9000


def test_every_bad_field_in_one_error(tmp_path):
    f = tmp_path / "c.yml"
    f.write_text("base:\n  listenPort: 0\n  taskExpireTime: soon\n")
    with pytest.raises(ConfigError) as e:
        c.load(SCHEMA, path=str(f), env={}, flags={"limit": "lots"})
    assert set(e.value.fields) == {"base.listenPort", "base.taskExpireTime", "base.maxBandwidth"}
    assert "base.taskExpireTime" in str(e.value)


def test_missing_default_file_is_ignored_but_explicit_is_not(tmp_path):
    assert c.load(SCHEMA, path=str(tmp_path / "none.yml"), env={}).port == 8002
    with pytest.raises(ConfigError):
        c.load(SCHEMA, path=str(tmp_path / "none.yml"), explicit_path=True, env={})


def test_bad_yaml_is_a_config_error(tmp_path):
    f = tmp_path / "c.yml"
    f.write_text("base: [unclosed\n")
    with pytest.raises(ConfigError):
        c.load(SCHEMA, path=str(f), explicit_path=True, env={})


def test_config_is_frozen_and_default_yaml_reloads(tmp_path):
    cfg = c.load(SCHEMA, env={})
    with pytest.raises(AttributeError):
        cfg.port = 1
    f = tmp_path / "d.yml"
    f.write_text(c.default_yaml(SCHEMA))
    assert dict(c.load(SCHEMA, path=str(f), env={})) == dict(cfg)


def test_shipped_supernode_conf_matches_schema():
    import pathlib

    from supernode import settings

    conf = pathlib.Path(__file__).resolve().parents[3] / "conf" / "supernode.yml"
    assert dict(settings.load(str(conf), explicit=True, env={})) == dict(settings.defaults())


def test_shipped_dfget_conf_matches_schema():
    import pathlib

    from dfget import settings

    conf = pathlib.Path(__file__).resolve().parents[3] / "conf" / "dfget.yml"
    shipped = c.load(settings.FILE_SCHEMA, path=str(conf), explicit_path=True, env={})
    assert dict(shipped) == dict(c.load(settings.FILE_SCHEMA, env={}))
