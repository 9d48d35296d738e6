"""The `version` and `config default` subcommands every program has (docs/operations.md#configuration-and-precedence)."""
import click

from common.version import version_text


def add_standard_commands(group: click.Group, program: str, load_settings) -> None:
    """Attach `version` and `config default` to a program's click group.

    `load_settings(config_path, flags)` returns the program's frozen settings; the group keeps
    `(config_path, flags)` in its context object."""

    @group.command("version")
    def version_cmd():
        """Print the version."""
        click.echo(version_text(program))

    @group.group("config")
    def config_group():
        """Configuration helpers."""

    @config_group.command("default")
    @click.pass_context
    def config_default(ctx):
        """Print the effective configuration as YAML."""
        import yaml
        config_path, flags = ctx.find_root().obj
        settings = load_settings(config_path, flags)
        click.echo(yaml.safe_dump(settings.as_yaml_tree(), sort_keys=False), nl=False)
