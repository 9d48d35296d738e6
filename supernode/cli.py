"""`supernode` command line (docs/operations.md#configuration-and-precedence): v1's flags, /etc/dragonfly/supernode.yml,
`version`,
`config default`."""

import os
import sys

import click

from common.errors import ConfigError
from common.shell.commands import add_standard_commands
from supernode import layout, listeners
from supernode import settings as settings_mod

# flag -> setting name; values stay strings here and are parsed once by the config loader.
FLAGS = [
    ("--cdn-pattern", "cdn_pattern", "local | source"),
    ("--port", "listen_port", "API port (8002)"),
    ("--download-port", "download_port", "port serving CDN pieces (8001)"),
    ("--listen-address", "listen_address", "address to bind (0.0.0.0)"),
    ("--home-dir", "home_dir", "home of the cache and logs"),
    ("--advertise-ip", "advertise_ip", "IP peers use to reach this supernode"),
    ("--up-limit", "peer_up_limit", "pieces one peer uploads at once (5)"),
    ("--down-limit", "peer_down_limit", "pieces one client downloads at once (4)"),
    (
        "--supernode-task-upload-limit",
        "supernode_task_upload_limit",
        "pieces of one task served at once (0 = from --max-bandwidth)",
    ),
    ("--system-bandwidth", "system_reserved_bandwidth", "bandwidth reserved for the system (20M)"),
    ("--max-bandwidth", "max_bandwidth", "total bandwidth (200M)"),
    ("--pool-size", "scheduler_core_pool_size", "unused (v1 compatibility)"),
    ("--fail-access-interval", "fail_access_interval", "how long an unreachable URL is remembered (3m)"),
    ("--gc-initial-delay", "gc_initial_delay", "delay before the first GC (6s)"),
    ("--gc-meta-interval", "gc_meta_interval", "task and peer GC period (2m)"),
    ("--task-expire-time", "task_expire_time", "idle time before a task is collected (3m)"),
    ("--peer-gc-delay", "peer_gc_delay", "time a down peer is kept (3m)"),
    ("--piece-size-policy", "piece_size_policy", "adaptive | v1"),
    ("--api-token", "api_token", "bearer token for state-changing management calls"),
]


def _flag_options(fn):
    for flag, name, help_text in reversed(FLAGS):
        fn = click.option(flag, name, default=None, help=help_text)(fn)
    fn = click.option("--profiler", "enable_profiler", is_flag=True, default=None, help="profiling routes")(fn)
    fn = click.option("-D", "--debug", "debug", is_flag=True, default=None, help="debug logging")(fn)
    fn = click.option(
        "--config",
        "config_path",
        default=settings_mod.DEFAULT_CONFIG_PATH,
        show_default=True,
        help="YAML config file (keys under base:)",
    )(fn)
    return fn


def _load(config_path: str, flags: dict):
    explicit = config_path != settings_mod.DEFAULT_CONFIG_PATH
    try:
        return settings_mod.load(config_path, explicit=explicit, flags=flags)
    except ConfigError as e:
        click.echo(f"supernode: {e}", err=True)
        sys.exit(2)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@_flag_options
@click.pass_context
def main(ctx, config_path, **flags):
    """The supernode: CDN and piece scheduler of the P2P network."""
    ctx.obj = (config_path, flags)
    if ctx.invoked_subcommand is not None:
        return
    settings = _load(config_path, flags)
    advertise_ip = settings.advertise_ip
    if not advertise_ip:
        from supernode.netinfo import default_advertise_ip

        advertise_ip, why = default_advertise_ip()
        click.echo(f"supernode: advertising {advertise_ip} ({why}); set --advertise-ip to choose", err=True)
    sockets = _fail_unless_ready(settings)
    from supernode.server import SupernodeServer

    SupernodeServer(settings, advertise_ip, sockets).run()


def _fail_unless_ready(settings) -> list:
    """One clear line and exit status 2 for what would otherwise be a traceback or a server that
    keeps retrying a bind: an unusable home directory, a port something else holds. Returns the
    listening sockets, bound (the server adopts them)."""
    try:
        os.makedirs(os.path.join(settings.home_dir, "repo"), exist_ok=True)
    except OSError as e:
        click.echo(
            f"supernode: cannot use --home-dir {settings.home_dir}: {e.strerror or e}; choose a writable directory",
            err=True,
        )
        sys.exit(2)
    if settings.download_server == layout.EXTERNAL:
        _fail_unless_linkable(settings.home_dir)
    ports = [("--port", settings.listen_port)]
    if settings.download_server != layout.EXTERNAL:  # else a static server holds the download port
        ports.append(("--download-port", settings.download_port))
    try:
        return listeners.bind(settings.listen_address, ports)
    except listeners.PortUnavailable as e:
        click.echo(f"supernode: {e}", err=True)
        sys.exit(2)


def _fail_unless_linkable(home_dir: str) -> None:
    """downloadServer external lays files out as hard links from <home>/cdn into <home>/repo:
    both must be on one filesystem."""
    private = layout.private_home(home_dir)
    try:
        os.makedirs(private, mode=0o700, exist_ok=True)
        same = os.stat(private).st_dev == os.stat(os.path.join(home_dir, "repo")).st_dev
    except OSError as e:
        click.echo(f"supernode: cannot use {private}: {e.strerror or e}", err=True)
        sys.exit(2)
    if not same:
        click.echo(
            f"supernode: downloadServer external needs {private} and {home_dir}/repo on one filesystem "
            "(files are laid out as hard links); do not mount them separately",
            err=True,
        )
        sys.exit(2)


add_standard_commands(main, "supernode", _load)


if __name__ == "__main__":
    main()
