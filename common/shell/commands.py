"""The `version` and `config default` subcommands every program has
(docs/operations.md#configuration-and-precedence)."""

from collections.abc import Callable
from typing import Any

import click

from common.version import version_text


def add_standard_commands(group: click.Group, program: str, load_settings: Callable[[Any, Any], Any]) -> None:
    """Attach `version` and `config default` to a program's click group.

    `load_settings(config_path, flags)` returns the program's frozen settings; the group keeps
    `(config_path, flags)` in its context object."""

    @group.command("version")
    def version_cmd() -> None:
        """Print the version."""
        click.echo(version_text(program))

    @group.group("config")
    def config_group() -> None:
        """Configuration helpers."""

    @config_group.command("default")
    @click.pass_context
    def config_default(ctx: click.Context) -> None:
        """Print the effective configuration as YAML."""
        import yaml

        config_path, flags = ctx.find_root().obj
        settings = load_settings(config_path, flags)
        click.echo(yaml.safe_dump(settings.as_yaml_tree(), sort_keys=False), nl=False)


def write_doc(program: str, directory: str, text: str) -> None:
    """`gen-doc`: write `<directory>/<program>.md` and say where; a directory that cannot be made
    or written is one line on stderr and exit status 1, never a traceback."""
    import os
    import sys

    target = os.path.join(directory, f"{program}.md")
    try:
        os.makedirs(directory, exist_ok=True)
        with open(target, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        click.echo(f"Error: cannot write {target}: {e.strerror or e}; choose another --path", err=True)
        sys.exit(1)
    click.echo(f"generated {os.path.abspath(target)}")
