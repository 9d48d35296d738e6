"""supernode/core imports only the standard library and `common` (architecture rule 1)."""
import ast
import pathlib
import sys

CORE = pathlib.Path(__file__).resolve().parents[3] / "supernode" / "core"
FORBIDDEN = {"socket", "threading", "subprocess", "time", "random", "asyncio", "multiprocessing", "select",
             "selectors", "urllib.request", "http.client", "os", "io", "shutil", "tempfile"}
FORBIDDEN_CALLS = {"open", "print", "input"}


def imported_modules(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.module or ""


def test_core_modules_exist():
    assert len(list(CORE.glob("*.py"))) >= 8


def test_core_imports_only_stdlib_and_common():
    problems = []
    for path in sorted(CORE.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for name in imported_modules(tree):
            top = name.split(".")[0]
            allowed = (name.startswith("supernode.core") or top == "common"
                       or (top in sys.stdlib_module_names and name not in FORBIDDEN and top not in FORBIDDEN))
            if not allowed:
                problems.append(f"{path.name}: import {name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
                problems.append(f"{path.name}:{node.lineno}: call {node.func.id}()")
    assert not problems, "\n".join(problems)
