"""dfget's configuration (docs/operations.md#running, docs/operations.md#configuration-and-precedence): files, then
flags, validated once, then frozen.

Config files are searched in order and the first one that loads wins: `/etc/dragonfly/dfget.yml`
(YAML: nodes, localLimit, minRate, totalLimit, clientQueueSize, workHome, logConfig) then
`/etc/dragonfly.conf` (INI, pre-0.3: `[node] address=ip1,ip2`). The extension picks the parser.
Flags override file values; a zero rate or queue size on the command line means "not given";
`--node` replaces the file's node list. Every bad value is reported at once (ConfigError).
"""

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.errors import BadInput, ConfigError
from common.nodes import Node, parse_nodes
from common.shell import config as c
from common.units import parse_duration, parse_rate
from common.urls import convert_headers, split_filter, validate_source_url

YAML_PATH = "/etc/dragonfly/dfget.yml"
INI_PATH = "/etc/dragonfly.conf"
CONFIG_FILES = (YAML_PATH, INI_PATH)
DEFAULT_NODE = "127.0.0.1:8002"
PATTERNS = ("p2p", "cdn", "source")


def _nodes(value) -> "tuple[Node, ...]":
    return tuple(parse_nodes(c.text_list(value)))


FILE_SCHEMA = [
    c.Setting(
        "nodes",
        "nodes",
        [DEFAULT_NODE],
        "supernodes, host[:port][=weight]",
        parse=_nodes,
        show=lambda v: [f"{n.addr}={n.weight}" for n in v],
    ),
    # v1's default was 20M: one download on a fast link ran ~28x slower than curl (BENCHMARKS.md,
    # helper-errors section). No limit unless one is set; --totallimit still caps the host.
    c.size_setting("local_limit", "localLimit", 0, "bandwidth limit of one download (0 = none; v1: 20M)"),
    c.size_setting("min_rate", "minRate", "64K", "minimal rate, for timeouts"),
    c.size_setting("total_limit", "totalLimit", 0, "bandwidth limit of the whole host (0 = off)"),
    c.Setting(
        "client_queue_size", "clientQueueSize", 6, "pieces fetched and written at once", parse=c.in_range(1, 1000)
    ),
    c.Setting("work_home", "workHome", "", "work home; empty = $HOME/.small-dragonfly", parse=c.text),
    c.Setting("log_path", "logConfig.path", "", "log file; empty = <workHome>/logs/dfclient.log", parse=c.text),
    c.Setting("log_max_size", "logConfig.maxSize", 40, "MB that trigger rotation", parse=c.in_range(1, 100000)),
    c.Setting("log_max_backups", "logConfig.maxBackups", 1, "rotated logs kept", parse=c.in_range(0, 1000)),
]


@dataclass(frozen=True)
class DfgetConfig:
    """Everything one dfget run was asked to do. Never written during the run."""

    url: str
    output: str
    nodes: "tuple[Node, ...]"
    local_limit: int
    min_rate: int
    total_limit: int
    client_queue_size: int
    work_home: str
    log_path: str
    log_max_size: int
    log_max_backups: int
    timeout: float = 0.0
    md5: str = ""
    identifier: str = ""
    call_system: str = ""
    cacerts: "tuple[str, ...]" = ()
    pattern: str = "p2p"
    filters: "tuple[str, ...]" = ()
    headers: "tuple[str, ...]" = ()
    notbs: bool = False
    dfdaemon: bool = False
    insecure: bool = False
    showbar: bool = False
    console: bool = False
    verbose: bool = False
    ip: str = ""
    port: int = 0
    expire_time: float = 180.0
    alive_time: float = 300.0

    @property
    def header_map(self) -> "dict[str, str]":
        return convert_headers(list(self.headers))

    @property
    def meta_path(self) -> str:
        return os.path.join(self.work_home, "meta", "host.meta")

    @property
    def data_dir(self) -> str:
        return os.path.join(self.work_home, "data")

    @property
    def task_rate(self) -> int:
        """The rate this download starts with and asks the upload server for: --locallimit, else
        --totallimit (one download alone may use the whole host's share), else 0 = unlimited."""
        return self.local_limit if self.local_limit > 0 else self.total_limit


# ---- config files -----------------------------------------------------------------------------


def read_ini(path: str) -> dict:
    import configparser  # here: most hosts have no .conf file, and a download pays ~1.5 ms for it

    parser = configparser.ConfigParser()
    with open(path, encoding="utf-8") as f:
        parser.read_file(f)
    tree: dict = {}
    if parser.has_option("node", "address"):
        tree["nodes"] = c.text_list(parser.get("node", "address"))
    return tree


def read_properties(paths=CONFIG_FILES) -> "tuple[dict, str | None]":
    """The parsed tree of the first config file that loads, and its path."""
    for path in paths:
        try:
            if path.endswith((".yml", ".yaml")):
                return c.read_yaml(path), path
            if path.endswith((".conf", ".ini")):
                return read_ini(path), path
        except (ConfigError, OSError, UnicodeDecodeError):
            continue
        except Exception as e:
            if not _ini_error(e):
                raise
    return {}, None


def _ini_error(e: Exception) -> bool:
    """A configparser.Error (configparser is imported only when an INI file is read)."""
    configparser = sys.modules.get("configparser")
    return configparser is not None and isinstance(e, configparser.Error)


# ---- flags ------------------------------------------------------------------------------------


def _given_rate(value) -> Any:
    """A CLI rate: None (or zero) means not given; an unparsable one is passed on to fail."""
    if value in (None, ""):
        return None
    try:
        return None if parse_rate(value) == 0 else value
    except BadInput:
        return value


def _check(errors: dict, key: str, fn, *args):
    try:
        return fn(*args)
    except BadInput as e:
        errors[key] = str(e)
        return None


def _cli_values(flags: Mapping[str, Any], errors: "dict[str, str]") -> dict:
    """Validate the flags that exist only on the command line; problems go into `errors`."""
    url = flags.get("url") or ""
    if not url:
        errors["url"] = "please give the URL to download with -u/--url"
    else:
        _check(errors, "url", validate_source_url, url)
    cacerts = tuple(flags.get("cacerts") or ())
    for ca in cacerts:
        if not os.path.isfile(ca):
            errors["cacerts"] = f"cannot read CA file {ca!r}"
    return {
        "url": url,
        "cacerts": cacerts,
        "pattern": _check(errors, "pattern", c.choice(*PATTERNS), flags.get("pattern") or "p2p"),
        "timeout": _check(errors, "timeout", parse_duration, flags.get("timeout") or flags.get("exceed") or "0"),
        "expire_time": _check(errors, "expiretime", parse_duration, flags.get("expire_time") or "3m"),
        "alive_time": _check(errors, "alivetime", parse_duration, flags.get("alive_time") or "5m"),
        "port": _check(errors, "port", c.in_range(0, 65535), flags.get("port") or 0),
    }


def load(flags: Mapping[str, Any], *, files=CONFIG_FILES, home_dir: "str | None" = None) -> DfgetConfig:
    """Build the frozen config from the first loadable file and the command-line `flags`.

    `flags` uses the DfgetConfig field names with raw CLI values (None = not given); `nodes` is
    the list of --node values and `timeout` / `expire_time` / `alive_time` are duration texts.
    """
    tree, path = read_properties(files)
    file_flags = {
        "nodes": list(flags.get("nodes") or []) or None,
        "local_limit": _given_rate(flags.get("local_limit")),
        "min_rate": _given_rate(flags.get("min_rate")),
        "total_limit": _given_rate(flags.get("total_limit")),
        "client_queue_size": flags.get("client_queue_size") or None,
        "work_home": flags.get("work_home") or None,
    }
    errors: dict[str, str] = {}
    base = None
    try:
        base = c.load(FILE_SCHEMA, path=path, tree=tree, env={}, flags=file_flags)
    except ConfigError as e:
        errors.update(e.fields)
    cli = _cli_values(flags, errors)
    if errors:
        raise ConfigError(errors)
    work_home = os.path.abspath(base.work_home or os.path.join(home_dir or os.path.expanduser("~"), ".small-dragonfly"))
    return DfgetConfig(
        **cli,
        output=flags.get("output") or "",
        nodes=base.nodes,
        local_limit=base.local_limit,
        min_rate=base.min_rate,
        total_limit=base.total_limit,
        client_queue_size=base.client_queue_size,
        work_home=work_home,
        log_path=base.log_path or os.path.join(work_home, "logs", "dfclient.log"),
        log_max_size=base.log_max_size,
        log_max_backups=base.log_max_backups,
        md5=flags.get("md5") or "",
        identifier=flags.get("identifier") or "",
        call_system=flags.get("call_system") or "",
        filters=tuple(split_filter(flags.get("filter"))),
        headers=tuple(flags.get("headers") or ()),
        notbs=bool(flags.get("notbs")),
        dfdaemon=bool(flags.get("dfdaemon")),
        insecure=bool(flags.get("insecure")),
        showbar=bool(flags.get("showbar")),
        console=bool(flags.get("console")),
        verbose=bool(flags.get("verbose")),
        ip=flags.get("ip") or "",
    )
