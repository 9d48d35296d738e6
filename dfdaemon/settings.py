"""Every dfdaemon setting (docs/operations.md#configuration-and-precedence): key, default, one comment; and the v1 exit
codes.

Loading is defaults -> /etc/dragonfly/dfdaemon.yml -> DFDAEMON_* environment -> flags
(common.shell.config). `finish()` then fills the derived defaults (localrepo, ratelimit), resolves an
explicit `dfpath` (empty = downloads in-process) and checks what needs the filesystem. Every bad field is reported at
once; the process exit
code is the v1 code of the first bad field in v1's validation order (`exit_code()`).
"""

import glob
import os
import shutil
from enum import IntEnum

from common.errors import BadInput, ConfigError
from common.shell import config as c
from common.units import format_size, parse_size
from dfdaemon.core import rules

DEFAULT_CONFIG_PATH = "/etc/dragonfly/dfdaemon.yml"
ENV_PREFIX = "DFDAEMON_"
DEFAULT_RATELIMIT = "20M"


class ExitCode(IntEnum):
    OK = 0
    OTHER = 1
    CONFIG = 10
    USER_HOME = 11
    PATH_NOT_ABS = 12
    RATE_LIMIT = 13
    PORT = 14
    DFGET_NOT_FOUND = 15
    REPO_CREATE = 16
    DFGET_FAIL = 17


# v1 validates in this order and stops at the first problem; we report all, exit with the first.
FIELD_CODES = [
    ("port", ExitCode.PORT),
    ("workHome", ExitCode.USER_HOME),
    ("localrepo", ExitCode.PATH_NOT_ABS),
    ("dfpath", ExitCode.DFGET_NOT_FOUND),
    ("ratelimit", ExitCode.RATE_LIMIT),
]


def exit_code(error: ConfigError) -> ExitCode:
    for key, code in FIELD_CODES:
        if key in error.fields:
            return code
    return ExitCode.CONFIG


def _port(v) -> int:
    n = c.integer(v)
    if not 2000 < n <= 65535:
        raise BadInput(f"invalid port {n}: must be in 2001-65535")
    return n


def _rate(v) -> int:
    if v in ("", None):
        return 0  # 0 = derived default
    n = parse_size(v)
    if n <= 0:
        raise BadInput(f"invalid rate limit {v!r}: must be positive")
    return n


def _certs(v) -> "tuple[str, ...]":
    return tuple(c.text_list(v))


def _flags(v) -> "tuple[str, ...]":
    if isinstance(v, str):
        import shlex

        return tuple(shlex.split(v))
    return tuple(c.text_list(v))


SCHEMA = [
    c.Setting("port", "port", 65001, "port the proxy / registry mirror listens on (2001-65535)", parse=_port),
    c.Setting("host_ip", "hostIp", "127.0.0.1", "address to listen on", parse=c.text, env="HOSTIP"),
    c.Setting(
        "registry",
        "registry_mirror.remote",
        "https://index.docker.io",
        "registry that /v2/ requests are mirrored from (--registry)",
        parse=c.text,
    ),
    c.Setting(
        "registry_insecure", "registry_mirror.insecure", False, "skip TLS verification of the registry", parse=c.boolean
    ),
    c.Setting(
        "registry_certs", "registry_mirror.certs", [], "CA files to verify the registry with", parse=_certs, show=list
    ),
    c.Setting(
        "registry_direct", "registry_mirror.direct", False, "never use dfget for the mirror's layers", parse=c.boolean
    ),
    c.Setting(
        "proxies",
        "proxies",
        [],
        "proxy rules {regx, use_https, direct, redirect}; first match wins",
        parse=rules.parse_proxy_rules,
        show=rules.show_rules,
    ),
    c.Setting(
        "hijack_cert", "hijack_https.cert", "", "certificate (or CA) presented to hijacked HTTPS clients", parse=c.text
    ),
    c.Setting("hijack_key", "hijack_https.key", "", "key of hijack_https.cert", parse=c.text),
    c.Setting(
        "hijack_hosts",
        "hijack_https.hosts",
        [],
        "hosts {regx, insecure, certs} whose HTTPS is decrypted",
        parse=rules.parse_hijack_hosts,
        show=rules.show_rules,
    ),
    c.Setting(
        "dfget_flags", "dfget_flags", [], "extra arguments passed verbatim to every dfget", parse=_flags, show=list
    ),
    c.Setting(
        "supernodes",
        "supernodes",
        [],
        "supernodes host[:port][=weight] handed to dfget (--node)",
        parse=_certs,
        show=list,
    ),
    c.Setting(
        "ratelimit",
        "ratelimit",
        "",
        "rate limit of each dfget; empty = 20M (on >= 24 CPUs: NIC speed / 8)",
        parse=_rate,
        show=lambda v: format_size(v) if v else "",
    ),
    c.Setting(
        "localrepo",
        "localrepo",
        "",
        "absolute directory of downloaded layers; empty = <workHome>/dfdaemon/data/",
        parse=c.text,
    ),
    c.Setting(
        "dfpath",
        "dfpath",
        "",
        "external dfget run once per blob (v1's way, any dfget incl. v1's Go one); "
        "empty = downloads run inside dfdaemon (default)",
        parse=c.text,
    ),
    c.Setting(
        "work_home",
        "workHome",
        "",
        "work home of dfdaemon and its dfget; empty = $HOME/.small-dragonfly",
        parse=c.text,
        env="WORKHOME",
    ),
    c.Setting("cert_pem", "certpem", "", "serve the proxy itself over TLS with this certificate", parse=c.text),
    c.Setting("key_pem", "keypem", "", "key of certpem", parse=c.text),
    c.Setting("verbose", "verbose", False, "debug logging (also passed to dfget)", parse=c.boolean),
    c.Setting("maxprocs", "maxprocs", 4, "Go's GOMAXPROCS in v1; accepted and unused", parse=c.in_range(1, 10000)),
    c.Setting("local_ip", "localIP", "", "this host's IP; accepted and unused (dfget detects its own)", parse=c.text),
    c.Setting("peer_port", "peerPort", 0, "accepted and unused (v1 compatibility)", parse=c.in_range(0, 65535)),
    c.Setting("stream_mode", "streamMode", False, "accepted and unused: layers always stream", parse=c.boolean),
    c.Setting(
        "connect_allow",
        "connect_allow",
        [],
        "regexes of host:port that CONNECT may tunnel to; empty = any (v1)",
        parse=rules.parse_connect_allow,
        show=list,
    ),
    c.size_setting(
        "direct_below",
        "directBelow",
        "1M",
        "blobs the registry announces smaller than this (one piece: image configs, tiny layers) are "
        "fetched straight from it; 0 = every blob through P2P (v1)",
    ),
    c.duration_setting(
        "layer_retention", "layerRetention", "5m", "a finished layer is kept this long for docker's Range retries"
    ),
    c.duration_setting("clean_interval", "cleanInterval", "2m", "period of the local repo cleaner"),
    c.duration_setting("clean_max_age", "cleanMaxAge", "1h", "repo files not accessed for this long are deleted"),
    c.Setting("log_path", "logConfig.path", "", "log file; empty = <workHome>/logs/dfdaemon.log", parse=c.text),
    c.Setting("log_max_size", "logConfig.maxSize", 40, "MB that trigger rotation", parse=c.in_range(1, 100000)),
    c.Setting("log_max_backups", "logConfig.maxBackups", 1, "rotated logs kept", parse=c.in_range(0, 1000)),
]


def load(path: str = DEFAULT_CONFIG_PATH, explicit: bool = False, flags=None, env=None) -> c.Config:
    """Load and finish the configuration (ConfigError lists every bad field)."""
    env = os.environ if env is None else env
    cfg = c.load(SCHEMA, path=path, explicit_path=explicit, env=env, env_prefix=ENV_PREFIX, flags=flags)
    return finish(cfg, env)


def _nic_speeds() -> "list[int]":
    speeds = []
    for path in glob.glob("/sys/class/net/enp*/speed"):
        try:
            with open(path) as f:
                speeds.append(int(f.read().strip()))
        except (OSError, ValueError):
            continue
    return speeds


def finish(cfg: c.Config, env) -> c.Config:
    """Derived defaults and the checks v1 does after parsing (absolute paths, dfget present)."""
    errors = {}
    home = cfg.work_home
    if not home:
        user_home = env.get("HOME") or os.path.expanduser("~")
        if not user_home or user_home == "~":
            errors["workHome"] = "cannot find the user's home directory; set --workHome"
        home = os.path.join(user_home or "/", ".small-dragonfly")
    repo = cfg.localrepo or os.path.join(home, "dfdaemon", "data") + os.sep
    if not os.path.isabs(repo):
        errors["localrepo"] = f"local repo {repo} is not an absolute path"
    dfpath = found = cfg.dfpath  # empty: in-process downloads (dfdaemon/inprocess.py)
    if dfpath:
        found = shutil.which(dfpath) if os.sep not in dfpath else (dfpath if os.access(dfpath, os.X_OK) else None)
        if not found:
            errors["dfpath"] = f"dfget not found at {dfpath!r}"
    rate = cfg.ratelimit or rules.default_ratelimit(os.cpu_count() or 1, _nic_speeds(), parse_size(DEFAULT_RATELIMIT))
    if bool(cfg.cert_pem) != bool(cfg.key_pem):
        errors["certpem"] = "certpem and keypem must be given together"
    if bool(cfg.hijack_cert) != bool(cfg.hijack_key):
        errors["hijack_https.cert"] = "hijack_https.cert and hijack_https.key must be given together"
    if errors:
        raise ConfigError(errors)
    return cfg.replace(
        work_home=home,
        localrepo=repo,
        dfpath=found,
        ratelimit=rate,
        log_path=cfg.log_path or os.path.join(home, "logs", "dfdaemon.log"),
    )


def mirror(cfg) -> rules.Mirror:
    return rules.Mirror(cfg.registry, cfg.registry_insecure, tuple(cfg.registry_certs), cfg.registry_direct)


def dfget_call(cfg) -> rules.DfgetCall:
    return rules.DfgetCall(
        dfpath=cfg.dfpath,
        home=cfg.work_home,
        ratelimit=format_size(cfg.ratelimit),
        nodes=tuple(cfg.supernodes),
        extra_flags=tuple(cfg.dfget_flags),
        verbose=cfg.verbose,
    )


def defaults(env=None, **flags) -> c.Config:
    """Settings from defaults and flags only (tests, embedding); no file, no environment."""
    return finish(c.load(SCHEMA, env={}, flags=flags), env if env is not None else os.environ)
