"""The `dfget` command (docs/operations.md#running): a thin click shell over settings.load() and run.run().

`dfget -u URL -o OUT ...` downloads; `dfget server` runs the peer upload server; `dfget version`
prints the version. Usage errors of any kind exit 1 (click's own usage errors would exit 2).
Tests may pass `obj={"config_files": [...], "services": Services(...)}` to the command.
"""

import platform
import sys
import warnings

import click

from common.errors import ConfigError
from common.version import BUILD_DATE, REVISION, VERSION, arch, runtime_version
from dfget import settings
from dfget.core.lines import version_text
from dfget.status import ExitStatus

RATE_HELP = "in format of G(B)/g/M(B)/m/K(B)/k/B, pure number will also be parsed as Byte"


class DfgetGroup(click.Group):
    """A group whose own callback is the download, and whose usage errors exit 1, not 2.

    Run as a program (`__call__`, the console script) it exits promptly after its last word,
    whatever thread is still stuck (dfget.prompt_exit); `main()` (CliRunner) raises SystemExit."""

    def __call__(self, *args, **kwargs):
        from dfget.prompt_exit import exit_promptly

        try:
            self.main(*args, **kwargs)
            code = 0
        except SystemExit as e:
            code = e.code
        exit_promptly(code)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as e:
            e.show()
            sys.exit(ExitStatus.USAGE)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(ExitStatus.USAGE)
        sys.exit(int(rv) if isinstance(rv, int) else 0)


def _split(values) -> "list[str]":
    return [v.strip() for value in values or () for v in value.split(",") if v.strip()]


@click.group(
    cls=DfgetGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="dfget is the client of Dragonfly: it downloads a file from its peers and the supernode, "
    "and uploads what it has to other peers.",
)
@click.option("-u", "--url", help="URL of the file to download (only HTTP/HTTPS)")
@click.option("-o", "--output", help="destination path; default: last URL path segment in the current directory")
@click.option(
    "-s",
    "--locallimit",
    help="bandwidth limit of this download, " + RATE_HELP + " (default: none, "
    "or --totallimit; v1's default was 20MB, which made one download ~28x slower than curl on a fast link)",
)
@click.option("--minrate", help="minimal bandwidth, used for timeouts, " + RATE_HELP + " (default 64KB)")
@click.option("--totallimit", help="bandwidth limit of the whole host, " + RATE_HELP + " (default 0 = off)")
@click.option("-e", "--timeout", help="timeout of the download (30s, 5m...); default: length / minrate + 10s")
@click.option("--exceed", hidden=True, help="deprecated: use --timeout")
@click.option("-m", "--md5", help="expected md5 of the file")
@click.option("-i", "--identifier", help="makes different task ids for the same URL; ignored with --md5")
@click.option("--callsystem", help="name of the caller, for metrics and debugging")
@click.option("--cacerts", multiple=True, help="CA file to verify the source with (repeatable)")
@click.option("-p", "--pattern", default="p2p", show_default=True, help="download pattern: p2p, cdn or source")
@click.option("-f", "--filter", "filter_", help="query keys to ignore for the task id, '&'-separated")
@click.option("--header", multiple=True, help="HTTP header for the source, 'Key: Value' (repeatable)")
@click.option("-n", "--node", multiple=True, help="supernodes host[:port][=weight], comma list or repeated")
@click.option("--notbs", is_flag=True, help="never download from the source when P2P fails")
@click.option("--dfdaemon", is_flag=True, help="the caller is dfdaemon")
@click.option("--insecure", is_flag=True, help="skip TLS verification of the source")
@click.option("--clientqueue", type=int, help="pieces fetched and written at once (default 6)")
@click.option("-b", "--showbar", is_flag=True, help="show a progress bar on stderr")
@click.option("--console", is_flag=True, help="also log to the console")
@click.option("--verbose", is_flag=True, help="debug logging")
@click.option("--home", help="work home (default $HOME/.small-dragonfly)")
@click.option("--ip", help="IP to register and to bind the upload server to (default: detected)")
@click.option("--port", type=int, default=0, help="upload server port (0 = automatic)")
@click.option("--expiretime", default="3m", show_default=True, help="upload server data expiry")
@click.option("--alivetime", default="5m", show_default=True, help="upload server idle timeout")
@click.pass_context
def main(ctx: click.Context, **opts):
    if ctx.invoked_subcommand:
        return None
    obj = ctx.obj if isinstance(ctx.obj, dict) else {}
    try:
        cfg = settings.load(flags_from_options(opts), files=obj.get("config_files", settings.CONFIG_FILES))
    except ConfigError as e:
        click.echo(f"Error: {e}", err=True)
        return ExitStatus.USAGE
    from dfget.run import run

    return run(cfg, obj.get("services"))


def flags_from_options(opts: dict) -> dict:
    """The parsed command-line options as settings.load's flags (dfdaemon's in-process downloads
    parse the same command line through `config_from_argv`)."""
    return {
        "url": opts["url"],
        "output": opts["output"],
        "local_limit": opts["locallimit"],
        "min_rate": opts["minrate"],
        "total_limit": opts["totallimit"],
        "timeout": opts["timeout"],
        "exceed": opts["exceed"],
        "md5": opts["md5"],
        "identifier": opts["identifier"],
        "call_system": opts["callsystem"],
        "cacerts": _split(opts["cacerts"]),
        "pattern": opts["pattern"],
        "filter": opts["filter_"],
        "headers": list(opts["header"]),
        "nodes": list(opts["node"]),
        "notbs": opts["notbs"],
        "dfdaemon": opts["dfdaemon"],
        "insecure": opts["insecure"],
        "client_queue_size": opts["clientqueue"],
        "showbar": opts["showbar"],
        "console": opts["console"],
        "verbose": opts["verbose"],
        "work_home": opts["home"],
        "ip": opts["ip"],
        "port": opts["port"],
        "expire_time": opts["expiretime"],
        "alive_time": opts["alivetime"],
    }


def config_from_argv(args: "list[str]", files=settings.CONFIG_FILES) -> "settings.DfgetConfig":
    """The DfgetConfig of a download command line (without the program name), exactly as
    `dfget ARGS` would build it; click.ClickException or ConfigError if it is not valid."""
    with main.make_context("dfget", list(args)) as ctx:
        with warnings.catch_warnings():  # click 8.2 deprecates protected_args (the subcommand's name)
            warnings.simplefilter("ignore", DeprecationWarning)
            rest = [*ctx.protected_args, *ctx.args]
        if rest:
            raise click.UsageError(f"unexpected arguments: {' '.join(rest)}")
        return settings.load(flags_from_options(ctx.params), files=files)


@main.command("version", help="Show the version of dfget.")
def version_command():
    click.echo(
        version_text("dfget", VERSION, REVISION, BUILD_DATE, runtime_version(), platform.system().lower(), arch()),
        nl=False,
    )


@main.group("config", help="Configuration helpers.")
def config_group():
    pass


@config_group.command(
    "default",
    help="Print the effective settings of the config file (YAML), as the other programs' `config default` does.",
)
@click.pass_context
def config_default_command(ctx: click.Context):
    import yaml

    from common.shell import config as c

    obj = ctx.find_root().obj if isinstance(ctx.find_root().obj, dict) else {}
    tree, path = settings.read_properties(obj.get("config_files", settings.CONFIG_FILES))
    try:
        loaded = c.load(settings.FILE_SCHEMA, path=path, tree=tree, env={})
    except ConfigError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(ExitStatus.USAGE)
    click.echo(yaml.safe_dump(loaded.as_yaml_tree(), sort_keys=False), nl=False)


@main.command("gen-doc", help="Generate markdown documentation of the dfget command.")
@click.option(
    "-p",
    "--path",
    default="/tmp",
    show_default=True,
    help="directory to write dfget.md into (v1's default; the path written is printed)",
)
def gen_doc_command(path: str):
    from common.shell.commands import write_doc

    with click.Context(main, info_name="dfget") as doc_ctx:
        text = f"## dfget\n\n```\n{main.get_help(doc_ctx)}\n```\n"
    write_doc("dfget", path, text)


def _server_command() -> click.Command:
    """`dfget server`, imported only when asked for: a download must not pay for Flask/werkzeug."""
    try:
        from dfget.uploader.command import server_command
    except ImportError as e:
        reason = str(e)

        @click.command(
            "server",
            help="Run the peer upload server (not available in this build).",
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        )
        def server_command():
            click.echo(f"dfget server is not available: {reason}", err=True)
            sys.exit(ExitStatus.LAUNCH_SERVER)

    return server_command


class _LazyServer(click.Command):
    """A placeholder that resolves to the real `server` command on first use."""

    def __init__(self):
        super().__init__("server", help="Launch a peer server for uploading files.")

    def _real(self) -> click.Command:
        real = _server_command()
        main.commands["server"] = real
        return real

    def make_context(self, info_name, args, parent=None, **extra):
        return self._real().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        return self._real().invoke(ctx)

    def main(self, *args, **kwargs):
        return self._real().main(*args, **kwargs)

    def get_help(self, ctx):
        return self._real().get_help(ctx)

    def get_short_help_str(self, limit: int = 45) -> str:
        return "Launch a peer server for uploading files."


main.add_command(_LazyServer(), "server")
