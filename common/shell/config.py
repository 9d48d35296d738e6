"""Configuration: defaults -> YAML file -> environment -> command-line flags, validated once.

Each program declares a schema: a list of `Setting`s. `load()` layers the sources, parses every
value with its setting's parser, and raises one ConfigError naming *every* bad field. The result
is a frozen `Config`; per-run facts never go into it.
"""

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from common.errors import BadInput, ConfigError
from common.units import format_duration, format_size, parse_duration, parse_size


@dataclass(frozen=True)
class Setting:
    name: str  # attribute name on Config
    key: str  # dotted YAML path, e.g. "base.listenPort"
    default: Any
    help: str
    parse: Callable[[Any], Any] = lambda v: v
    show: Callable[[Any], Any] = lambda v: v  # how `config default` prints the value
    env: "str | None" = None  # environment variable name (without the program prefix)


def text(v: Any) -> str:
    if isinstance(v, (dict, list)):
        raise BadInput(f"expected a string, got {type(v).__name__}")
    return "" if v is None else str(v)


def integer(v: Any) -> int:
    if isinstance(v, bool):
        raise BadInput(f"expected an integer, got {v!r}")
    try:
        return int(str(v).strip()) if not isinstance(v, int) else v
    except ValueError:
        raise BadInput(f"expected an integer, got {v!r}") from None


def boolean(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("true", "1", "yes", "on"):
        return True
    if s in ("false", "0", "no", "off", ""):
        return False
    raise BadInput(f"expected true or false, got {v!r}")


def text_list(v: Any) -> list[str]:
    if v is None or v == "":
        return []
    if isinstance(v, str):
        return [s.strip() for s in v.split(",") if s.strip()]
    if isinstance(v, (list, tuple)):
        return [text(s) for s in v]
    raise BadInput(f"expected a list, got {type(v).__name__}")


def choice(*options: str) -> Callable[[Any], str]:
    def parse(v: Any) -> str:
        s = text(v)
        if s.lower() not in {o.lower() for o in options}:
            raise BadInput(f"expected one of {', '.join(options)}, got {v!r}")
        return s.lower()

    return parse


def in_range(low: int, high: int) -> Callable[[Any], int]:
    def parse(v: Any) -> int:
        n = integer(v)
        if not low <= n <= high:
            raise BadInput(f"{n} is outside {low}-{high}")
        return n

    return parse


def duration(v: Any) -> float:
    return parse_duration(v)


def size(v: Any) -> int:
    return parse_size(v)


def duration_setting(name: str, key: str, default: Any, help: str, **kw: Any) -> Setting:
    return Setting(name, key, default, help, parse=duration, show=format_duration, **kw)


def size_setting(name: str, key: str, default: Any, help: str, **kw: Any) -> Setting:
    return Setting(name, key, default, help, parse=size, show=format_size, **kw)


class Config(Mapping[str, Any]):
    """Frozen settings with attribute access."""

    def __init__(self, values: dict[str, Any], schema: list[Setting]) -> None:
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "_schema", list(schema))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Config is frozen")

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def replace(self, **changes: Any) -> "Config":
        """A new Config with some values changed (already parsed values)."""
        return Config({**self._values, **changes}, self._schema)

    def as_yaml_tree(self) -> dict[str, Any]:
        """Nested dict of YAML keys -> printable values (for `config default`, `/env`)."""
        tree: dict[str, Any] = {}
        for s in self._schema:
            node = tree
            *parents, leaf = s.key.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = s.show(self._values[s.name])
        return tree


def _lookup(tree: Mapping[str, Any], dotted: str) -> tuple[Any, bool]:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return None, False
        match = [k for k in node if str(k).lower() == part.lower()]
        if not match:
            return None, False
        node = node[match[0]]
    return node, True


def read_yaml(path: str) -> dict[str, Any]:
    try:
        f = open(path, encoding="utf-8")  # noqa: SIM115 - closed below, once yaml is imported
    except OSError as e:
        raise ConfigError({"config": f"cannot read {path}: {e.strerror}"}) from None
    # Imported only once a file is there: most dfget runs have none, and yaml costs ~15 ms of
    # start-up (BENCHMARKS.md, helper-dfspeed).
    import yaml

    with f:
        try:
            data = yaml.safe_load(f) or {}
        except OSError as e:
            raise ConfigError({"config": f"cannot read {path}: {e.strerror}"}) from None
        except yaml.YAMLError as e:
            raise ConfigError({"config": f"{path} is not valid YAML: {e}"}) from None
    if not isinstance(data, dict):
        raise ConfigError({"config": f"{path} must hold a mapping at the top level"})
    return data


def load(
    schema: "list[Setting]",
    *,
    path: "str | None" = None,
    explicit_path: bool = False,
    env: "Mapping[str, str] | None" = None,
    env_prefix: str = "",
    flags: "Mapping[str, Any] | None" = None,
    tree: "Mapping[str, Any] | None" = None,
) -> Config:
    """Layer defaults, the YAML file, the environment and flags; validate every value once.

    A missing default file is ignored; a missing explicit file is an error. `flags` maps
    setting names to values given on the command line (None = not given). A caller that reads
    its file itself (e.g. another format) passes the parsed `tree` instead, with `path` naming it.
    """
    if tree is None:
        tree = {}
        if path and (explicit_path or os.path.exists(path)):
            tree = read_yaml(path)
    env = env if env is not None else os.environ
    flags = flags or {}
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for s in schema:
        raw: Any = s.default
        origin: str | None = "default"
        found, ok = _lookup(tree, s.key)
        if ok and found is not None:
            raw, origin = found, path
        env_name = env_prefix + (s.env or s.name.upper())
        if env_name in env:
            raw, origin = env[env_name], env_name
        if flags.get(s.name) is not None:
            raw, origin = flags[s.name], "--flag"
        try:
            values[s.name] = s.parse(raw)
        except BadInput as e:
            where = "" if origin == "default" else f" (from {origin})"
            errors[s.key] = f"{e}{where}"
    if errors:
        raise ConfigError(errors)
    return Config(values, schema)


def default_yaml(schema: "list[Setting]") -> str:
    """A commented YAML file: every setting, its default, one comment."""
    import yaml

    lines: list[str] = []
    open_sections: list[str] = []
    for s in schema:
        *parents, leaf = s.key.split(".")
        depth = 0
        for i, p in enumerate(parents):
            if open_sections[: i + 1] != parents[: i + 1]:
                lines.append("  " * i + f"{p}:")
                open_sections = parents[: i + 1]
            depth = i + 1
        if not parents:
            open_sections = []
        shown = s.show(s.parse(s.default))
        if isinstance(shown, str) and shown.isdigit():
            shown = int(shown)  # a plain byte count reads better unquoted
        value = yaml.safe_dump({leaf: shown}, default_flow_style=True, width=1000).strip()[1:-1]
        lines.append("  " * depth + f"# {s.help}")
        lines.append("  " * depth + value)
    return "\n".join(lines) + "\n"
