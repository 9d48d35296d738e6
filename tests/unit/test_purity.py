"""Architecture rule 1 (docs/architecture.md#what-may-import-what): the deciding code imports only
the standard library's side-effect-free modules, `common` and its program's pure packages; it never
opens files, sleeps, reads clocks or does I/O.

Pure code is found by folder, not by a list: every module in a package named `core` (supernode/core,
supernode/cdn/core, dfget/uploader/core, dfdaemon/core, ...) and every module of `common/` outside
`common/shell/`. A new module in one of those folders is scanned from its first commit.
"""

import ast
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROGRAMS = ("supernode", "dfget", "dfdaemon")
COMMON_SHELL = ROOT / "common" / "shell"
# Modules in a pure folder that are not pure yet (none now; test_exceptions_are_still_needed says
# when an entry has become pure and must go).
NOT_PURE_YET: "set[str]" = set()
FORBIDDEN = {
    "socket",
    "threading",
    "subprocess",
    "time",
    "random",
    "asyncio",
    "multiprocessing",
    "select",
    "selectors",
    "urllib.request",
    "http",
    "os",
    "io",
    "shutil",
    "tempfile",
    "logging",
    "signal",
    "fcntl",
    "ssl",
    "requests",
    "flask",
    "gevent",
    "urllib3",
}
FORBIDDEN_CALLS = {"open", "print", "input"}


def _in_pure_folder(path: pathlib.Path) -> bool:
    rel = path.relative_to(ROOT)
    if rel.parts[0] == "common":
        return COMMON_SHELL not in path.parents
    return rel.parts[0] in PROGRAMS and "core" in rel.parts[:-1]


def pure_files():
    found = [p for top in ("common", *PROGRAMS) for p in (ROOT / top).rglob("*.py") if _in_pure_folder(p)]
    return sorted(p for p in found if str(p.relative_to(ROOT)) not in NOT_PURE_YET)


def _may_import(name: str, path: pathlib.Path) -> bool:
    """`common` (not its shell), the module's own package, or any `core` package of its own program."""
    parts, rel = name.split("."), path.relative_to(ROOT)
    if parts[0] == "common":
        return parts[:2] != ["common", "shell"]
    package = ".".join(rel.parent.parts)
    if name == package or name.startswith(package + "."):
        return True
    return parts[0] == rel.parts[0] and "core" in parts


def imported(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module or ""


def problems_of(path: pathlib.Path) -> "list[str]":
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for name in imported(tree):
        top = name.split(".")[0]
        if name in FORBIDDEN or top in FORBIDDEN or not (top in sys.stdlib_module_names or _may_import(name, path)):
            found.append(f"imports {name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            found.append(f"line {node.lineno} calls {node.func.id}()")
    return found


def test_the_pure_core_exists():
    folders = {str(p.parent.relative_to(ROOT)) for p in pure_files()}
    assert {
        "common",
        "common/protocol",
        "supernode/core",
        "supernode/cdn/core",
        "supernode/console/core",
        "dfget/core",
        "dfget/uploader/core",
        "dfdaemon/core",
    } <= folders
    assert len(list(pure_files())) >= 50


# A module's docstring calling it pure: "(pure)", "(pure: no I/O ...)", "..., pure."
SAYS_PURE = re.compile(r"\(pure\b|,\s*pure\.$")


def test_every_module_that_calls_itself_pure_is_in_a_pure_folder():
    claims = []
    for top in PROGRAMS:
        for path in (ROOT / top).rglob("*.py"):
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            if SAYS_PURE.search(doc.split("\n")[0]) and not _in_pure_folder(path):
                claims.append(str(path.relative_to(ROOT)))
    assert not claims, f"these call themselves pure but live outside a core/ folder: {claims}"


def test_exceptions_are_still_needed():
    for name in NOT_PURE_YET:
        assert _in_pure_folder(ROOT / name) and problems_of(ROOT / name), (
            f"{name} is pure now: drop it from NOT_PURE_YET"
        )


@pytest.mark.parametrize("path", list(pure_files()), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_is_pure(path):
    assert not problems_of(path)


def test_the_scan_catches_io(tmp_path):
    bad = ROOT / "dfget" / "core" / "_purity_probe.py"
    try:
        bad.write_text(
            "import socket\nfrom requests import get\nfrom common.shell import logs\n"
            "from dfget.session import Session\nfrom dfget.uploader.core import policy\nopen('x')\n"
        )
        assert problems_of(bad) == [
            "imports socket",
            "imports requests",
            "imports common.shell",
            "imports dfget.session",
            "line 6 calls open()",
        ]
    finally:
        bad.unlink()
