"""dfget/core imports only the standard library and `common`, and no I/O, thread or clock modules."""
import ast
import pathlib
import sys

import dfget.core

CORE = pathlib.Path(dfget.core.__file__).parent
FORBIDDEN = {"socket", "threading", "subprocess", "requests", "flask", "gevent", "time", "random",
             "urllib.request", "http", "shutil", "tempfile", "asyncio", "multiprocessing", "logging"}
FORBIDDEN_CALLS = {"open", "print", "input"}


def _imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.module or ""


def test_core_modules_are_pure():
    files = sorted(CORE.glob("*.py"))
    assert len(files) >= 6
    for path in files:
        tree = ast.parse(path.read_text(), str(path))
        for name in _imports(tree):
            top = name.split(".")[0]
            assert name not in FORBIDDEN and top not in FORBIDDEN, f"{path.name} imports {name}"
            assert top in ("common", "dfget") or top in sys.stdlib_module_names, f"{path.name} imports {name}"
            if top == "dfget":
                assert name.startswith("dfget.core"), f"{path.name} imports {name}"
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in FORBIDDEN_CALLS, f"{path.name} calls {node.func.id}()"
