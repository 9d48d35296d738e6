"""dfdaemon's settings: validation, v1 exit codes, derived defaults, precedence. (Its pure modules,
dfdaemon/core/, are held pure by tests/unit/test_purity.py with the others.)"""

import pytest

from common.errors import ConfigError
from dfdaemon import settings


def test_every_bad_field_is_reported_and_mapped_to_the_v1_exit_code(tmp_path):
    f = tmp_path / "d.yml"
    f.write_text("port: 99999\nratelimit: fast\nverbose: perhaps\n")
    with pytest.raises(ConfigError) as e:
        settings.load(str(f), explicit=True, env={"HOME": str(tmp_path)})
    assert set(e.value.fields) == {"port", "ratelimit", "verbose"}
    assert settings.exit_code(e.value) == settings.ExitCode.PORT
    assert settings.exit_code(ConfigError({"ratelimit": "x", "verbose": "y"})) == 13
    assert settings.exit_code(ConfigError({"verbose": "y"})) == 10


def test_derived_defaults(tmp_path):
    dfget = tmp_path / "dfget"
    dfget.write_text("#!/bin/sh\n")
    dfget.chmod(0o755)
    cfg = settings.defaults(env={"HOME": str(tmp_path)}, dfpath=str(dfget))
    assert cfg.work_home == str(tmp_path / ".small-dragonfly")
    assert cfg.localrepo == str(tmp_path / ".small-dragonfly/dfdaemon/data") + "/"
    assert cfg.ratelimit == 20 * 1024 * 1024 and cfg.port == 65001 and cfg.registry == "https://index.docker.io"
    with pytest.raises(ConfigError) as e:
        settings.defaults(env={"HOME": str(tmp_path)}, dfpath=str(dfget), localrepo="rel", cert_pem="x")
    assert set(e.value.fields) == {"localrepo", "certpem"}


def test_env_overrides_file(tmp_path):
    dfget = tmp_path / "dfget"
    dfget.write_text("#!/bin/sh\n")
    dfget.chmod(0o755)
    f = tmp_path / "d.yml"
    f.write_text(f"port: 7000\ndfpath: {dfget}\nproxies: [{{regx: blobs, use_https: true}}]\n")
    cfg = settings.load(str(f), explicit=True, env={"HOME": str(tmp_path), "DFDAEMON_PORT": "7001"})
    assert cfg.port == 7001 and cfg.proxies[0].use_https


def test_downloads_run_in_process_unless_a_dfpath_is_given(tmp_path):
    cfg = settings.defaults(env={"HOME": str(tmp_path)})
    assert cfg.dfpath == "" and settings.dfget_call(cfg).dfpath == ""
    assert cfg.direct_below == 1024 * 1024
    dfget = tmp_path / "dfget"
    dfget.write_text("#!/bin/sh\n")
    dfget.chmod(0o755)
    assert settings.defaults(env={"HOME": str(tmp_path)}, dfpath=str(dfget)).dfpath == str(dfget)
    with pytest.raises(ConfigError) as e:
        settings.defaults(env={"HOME": str(tmp_path)}, dfpath=str(tmp_path / "missing"))
    assert settings.exit_code(e.value) == 15
