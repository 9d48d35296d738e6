"""The deciding parts of the CDN import no I/O (architecture rule 1)."""
import ast
import pathlib

import pytest

CDN = pathlib.Path(__file__).resolve().parents[3] / "supernode" / "cdn"
FORBIDDEN = {"flask", "gevent", "requests", "urllib3", "socket", "subprocess", "threading", "time", "random",
             "os", "shutil", "tempfile"}
ALLOWED_LOCAL = {"supernode.cdn.contract", "supernode.cdn.records"}


@pytest.mark.parametrize("name", ["cutting.py", "records.py", "freshness.py"])
def test_pure_module_imports(name):
    tree = ast.parse((CDN / name).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mods = [node.module or ""]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "open":
            pytest.fail(f"{name} calls open()")
        else:
            continue
        for mod in mods:
            assert mod.split(".")[0] not in FORBIDDEN, f"{name} imports {mod}"
            if mod.startswith("supernode"):
                assert mod in ALLOWED_LOCAL, f"{name} imports {mod}"
