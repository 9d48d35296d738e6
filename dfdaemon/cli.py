"""The `dfdaemon` command (docs/operations.md#configuration-and-precedence): v1's flags and subcommands, a thin shell
over settings + Daemon.

Exit codes: 0; 10-17 for configuration problems (settings.ExitCode); 1 for anything else at
start-up (e.g. the port is taken).
"""

import datetime
import logging
import os
import signal
import socket
import subprocess
import sys
import threading

import click

from common.errors import BadInput, ConfigError
from common.nodes import parse_nodes
from common.shell import logs
from common.shell.commands import add_standard_commands, write_doc
from common.units import parse_duration
from dfdaemon import settings
from dfdaemon.settings import ExitCode

log = logging.getLogger("dfdaemon")

# flag -> setting name; values stay strings and are parsed once by the config loader.
FLAGS = [
    ("--maxprocs", "maxprocs", "maximum number of CPUs (Go's GOMAXPROCS; unused) (4)"),
    ("--hostIp", "host_ip", "address dfdaemon listens on (127.0.0.1)"),
    ("--port", "port", "port dfdaemon listens on (65001)"),
    ("--peerPort", "peer_port", "unused, kept for v1 (0)"),
    ("--certpem", "cert_pem", "certificate to serve the proxy over TLS"),
    ("--keypem", "key_pem", "key of --certpem"),
    ("--registry", "registry", "registry mirror remote (https://index.docker.io)"),
    ("--localrepo", "localrepo", "absolute directory of downloaded layers (<workHome>/dfdaemon/data/)"),
    ("--workHome", "work_home", "work home of dfdaemon and its dfget ($HOME/.small-dragonfly)"),
    (
        "--dfpath",
        "dfpath",
        "run this dfget once per blob, as v1 did (any dfget, v1's Go one too); default: downloads run inside dfdaemon",
    ),
    ("--ratelimit", "ratelimit", "rate limit of each dfget, e.g. 20M (20M)"),
]


def _options(fn):
    for flag, name, help_text in reversed(FLAGS):
        fn = click.option(flag, name, default=None, help=help_text)(fn)
    fn = click.option("--node", "node", multiple=True, help="supernodes host[:port][=weight]; overrides supernodes")(fn)
    fn = click.option("--streamMode", "stream_mode", is_flag=True, default=None, help="accepted, unused")(fn)
    fn = click.option("--verbose", "verbose", is_flag=True, default=None, help="debug logging")(fn)
    fn = click.option(
        "--config", "config_path", default=settings.DEFAULT_CONFIG_PATH, show_default=True, help="YAML config file"
    )(fn)
    return fn


def _load(config_path: str, flags: dict):
    flags = dict(flags)
    nodes = [n.strip() for v in flags.pop("node", ()) or () for n in v.split(",") if n.strip()]
    flags["supernodes"] = nodes or None
    try:
        return settings.load(config_path, explicit=config_path != settings.DEFAULT_CONFIG_PATH, flags=flags)
    except ConfigError as e:
        click.echo(f"dfdaemon: {e}", err=True)
        sys.exit(settings.exit_code(e))


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@_options
@click.pass_context
def main(ctx, config_path, **flags):
    """dfdaemon: a local registry mirror / HTTP proxy that pulls image layers through dfget."""
    ctx.obj = (config_path, flags)
    if ctx.invoked_subcommand is not None:
        return
    cfg = _load(config_path, flags)
    sys.exit(run(cfg, sys.argv))


def run(cfg, argv) -> int:
    try:
        logs.setup(
            cfg.log_path,
            sign=None,
            verbose=cfg.verbose,
            max_bytes=cfg.log_max_size * 1024 * 1024,
            backups=cfg.log_max_backups,
        )
    except OSError as e:
        click.echo(f"dfdaemon: cannot open the log {cfg.log_path}: {e}", err=True)
    try:
        os.makedirs(cfg.localrepo, exist_ok=True)
    except OSError as e:
        click.echo(f"dfdaemon: cannot create local repo {cfg.localrepo}: {e.strerror}", err=True)
        return ExitCode.REPO_CREATE
    failed = cfg.dfpath and _dfget_version_fails(cfg.dfpath)
    if failed:
        click.echo(f"dfdaemon: {cfg.dfpath} version failed: {failed.strip()}", err=True)
        return ExitCode.DFGET_FAIL
    from dfdaemon.server import Daemon

    daemon = Daemon(cfg, argv)
    try:
        port = daemon.bind()
    except OSError as e:
        click.echo(f"dfdaemon: cannot listen on {cfg.host_ip}:{cfg.port}: {e.strerror}", err=True)
        return ExitCode.OTHER

    def stop(signum, _frame):
        log.info("signal %d: stopping", signum)
        threading.Thread(target=daemon.server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "dfdaemon listening on %s:%d registry=%s downloads=%s",
        cfg.host_ip,
        port,
        cfg.registry,
        f"external dfget {cfg.dfpath}" if cfg.dfpath else "in-process",
    )
    click.echo(f"dfdaemon listening on {cfg.host_ip}:{port}", err=True)
    threading.Thread(target=_warn_if_no_supernode, args=(tuple(cfg.supernodes),), daemon=True).start()
    daemon.serve_forever()
    return ExitCode.OK


def _dfget_version_fails(dfpath: str) -> str:
    """v1's start-up check of an external dfget: '' when `dfpath version` works, else why not."""
    try:
        check = subprocess.run([dfpath, "version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    if check.returncode != 0:
        return check.stderr or check.stdout or f"exit {check.returncode}"
    return ""


def supernode_warning(nodes, reachable) -> str:
    """The line to print when none of the configured supernodes answers ('' when one does, or when
    none is configured and dfget's own configuration decides). `reachable(host, port) -> bool`."""
    try:
        addresses = parse_nodes(nodes)
    except BadInput:
        return ""  # dfget will refuse the list itself, with its own message
    if not addresses or any(reachable(n.host, n.port) for n in addresses):
        return ""
    shown = ", ".join(n.addr for n in addresses)
    return (
        f"dfdaemon: warning: P2P is off for now: no supernode answers ({shown}); layers are fetched "
        "straight from the registry until one does — check --node"
    )


def _warn_if_no_supernode(nodes) -> None:
    def reachable(host: str, port: int) -> bool:
        try:
            socket.create_connection((host, port), timeout=3).close()
            return True
        except OSError:
            return False

    line = supernode_warning(nodes, reachable)
    if line:
        log.warning("%s", line)
        click.echo(line, err=True)


add_standard_commands(main, "dfdaemon", _load)


@main.command("gen-ca")
@click.option("--common-name", default=socket.gethostname, show_default="hostname", help="subject CN of the CA")
@click.option("--expire-duration", default="87600h", show_default=True, help="validity (Go duration)")
@click.option("--key-output", default="/tmp/ca.key", show_default=True, help="where the key is written")
@click.option("--cert-output", default="/tmp/ca.crt", show_default=True, help="where the certificate is written")
@click.option("--overwrite", is_flag=True, help="replace existing files")
def gen_ca(common_name, expire_duration, key_output, cert_output, overwrite):
    """Generate a CA certificate and key, for hijack_https."""
    from dfdaemon.tls import generate_ca

    try:
        lifetime = datetime.timedelta(seconds=parse_duration(expire_duration))
    except BadInput as e:
        raise click.BadParameter(str(e), param_hint="--expire-duration") from None
    for path in (key_output, cert_output):
        if os.path.exists(path) and not overwrite:
            raise click.ClickException(f"{path} already exists; use --overwrite")
    key_pem, cert_pem = generate_ca(common_name, lifetime)
    fd = os.open(key_output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    with open(cert_output, "wb") as f:
        f.write(cert_pem)
    click.echo(f"generated CA key {key_output} and certificate {cert_output}")


@main.command("gen-doc")
@click.option("--path", default=".", show_default=True, help="directory the markdown file is written to")
@click.pass_context
def gen_doc(ctx, path):
    """Write the command-line reference as markdown."""
    root = ctx.find_root().command
    parts = [f"# dfdaemon\n\n```\n{root.get_help(click.Context(root, info_name='dfdaemon'))}\n```\n"]
    for name, cmd in sorted(root.commands.items()):
        parts.append(f"## dfdaemon {name}\n\n```\n{cmd.get_help(click.Context(cmd, info_name=name))}\n```\n")
    write_doc("dfdaemon", path, "\n".join(parts))


if __name__ == "__main__":
    main()
