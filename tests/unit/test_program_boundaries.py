"""The three programs never import each other (docs/architecture.md#what-may-import-what), with one
exception: dfdaemon's in-process downloads run dfget's library, from dfdaemon/inprocess.py only."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROGRAMS = ("supernode", "dfget", "dfdaemon")
ALLOWED = {("dfdaemon/inprocess.py", "dfget")}


def imported_programs(path: pathlib.Path) -> "set[str]":
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        found |= {n.split(".")[0] for n in names} & set(PROGRAMS)
    return found


def test_programs_import_only_themselves_and_common():
    crossings = []
    for program in PROGRAMS + ("common",):
        for path in sorted((ROOT / program).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for other in imported_programs(path) - {program}:
                if (rel, other) not in ALLOWED:
                    crossings.append(f"{rel} imports {other}")
    assert crossings == []


def test_the_one_exception_is_still_needed():
    assert "dfget" in imported_programs(ROOT / "dfdaemon" / "inprocess.py")
