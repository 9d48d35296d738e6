"""`dfget server`: the peer upload server as a command (docs/architecture.md#the-upload-servers-life-cycle).

Also runnable as `python -m dfget.uploader.command [flags]`, which is how the launcher starts it.
"""

import logging
import os
import sys
import time

import click

from common.errors import BadInput
from common.shell import logs
from common.shell.clock import SystemClock
from common.units import parse_duration
from dfget.uploader.core.policy import check_task_file_name
from dfget.uploader.server import PORT_LINE, ServerOptions, serve

DEFAULT_HOME = os.path.join("~", ".small-dragonfly")


def _duration(_ctx, param, value) -> float:
    try:
        return parse_duration(value)
    except BadInput as e:
        raise click.BadParameter(str(e), param=param) from None


def _announce(port: int) -> None:
    try:
        click.echo(PORT_LINE.format(port=port))
        sys.stdout.flush()
    except (BrokenPipeError, OSError):
        pass  # whoever started us stopped listening; the port is in host.meta anyway


@click.command("server", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", "data_dir", default="", help="directory of the files to serve (default <home>/data)")
@click.option("--home", default=DEFAULT_HOME, show_default=True, help="dfget work home")
@click.option("--ip", default="", help="IP address to listen on (default all interfaces)")
@click.option("--port", default=0, type=click.IntRange(0, 65535), help="port to listen on (0: pick one)")
@click.option("--meta", "meta_path", default="", help="host meta file (default <home>/meta/host.meta)")
@click.option(
    "--expiretime",
    "expire_time",
    default="3m",
    callback=_duration,
    show_default=True,
    help="how long a finished task's file is kept without being accessed",
)
@click.option(
    "--alivetime",
    "alive_time",
    default="5m",
    callback=_duration,
    show_default=True,
    help="how long the server lives without receiving any request (0: forever)",
)
@click.option("--verbose", is_flag=True, help="log at debug level")
@click.option(
    "--listen-fd",
    "listen_fd",
    default=-1,
    type=int,
    hidden=True,
    help="serve on this inherited listening socket (how dfget starts the server)",
)
@click.option(
    "--task",
    "first_task",
    default="",
    hidden=True,
    help="a task file name to know before serving (the starting dfget's)",
)
def server_command(data_dir, home, ip, port, meta_path, expire_time, alive_time, verbose, listen_fd, first_task):
    """Launch a peer server for uploading files."""
    home = os.path.abspath(os.path.expanduser(home))
    if first_task:
        try:
            check_task_file_name(first_task)
        except BadInput as e:
            raise click.BadParameter(str(e), param_hint="--task") from None
    options = ServerOptions(
        data_dir=os.path.abspath(os.path.expanduser(data_dir or os.path.join(home, "data"))),
        meta_path=os.path.abspath(os.path.expanduser(meta_path or os.path.join(home, "meta", "host.meta"))),
        ip=ip,
        port=port,
        expire_time=expire_time,
        alive_time=alive_time,
        listen_fd=listen_fd,
        first_task=first_task,
    )
    logs.setup(os.path.join(home, "logs", "dfserver.log"), sign=f"{os.getpid()}-{time.time():.3f}", verbose=verbose)
    try:
        code = serve(options, SystemClock(), _announce)
    except OSError as e:
        click.echo(f"dfget server: cannot start: {e}", err=True)
        logging.getLogger(__name__).error("cannot start the upload server: %s", e)
        code = 1
    sys.exit(code)


def main() -> None:
    server_command(prog_name="dfget server")


if __name__ == "__main__":
    main()
