"""Architecture rule 1: the deciding code imports only the standard library's pure modules,
`common` and its own pure siblings; it never opens files, sleeps, reads clocks or does I/O."""
import ast
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PURE = {
    "common": ["pieces.py", "digest.py", "urls.py", "units.py", "rate.py", "errors.py", "version.py",
               "nodes.py", "http_range.py", "dfget_files.py", "source_failures.py", "image_names.py", "source_access.py",
               "protocol/codes.py", "protocol/paths.py", "protocol/wire.py", "protocol/messages.py"],
    "supernode/core": ["*.py"],
    "supernode/cdn": ["contract.py", "cutting.py", "records.py", "freshness.py"],
    "supernode/console": ["identity.py", "series.py", "ledger.py", "view.py", "auth.py"],
    "dfget/core": ["*.py"],
    "dfget/uploader": ["policy.py"],
    "dfdaemon": ["rules.py"],
}
# Local modules a pure module may import besides `common` and its own package.
PURE_LOCAL = {"supernode.cdn.contract", "supernode.cdn.records"}
FORBIDDEN = {"socket", "threading", "subprocess", "time", "random", "asyncio", "multiprocessing", "select",
             "selectors", "urllib.request", "http", "os", "io", "shutil", "tempfile", "logging", "signal",
             "fcntl", "requests", "flask", "gevent", "urllib3"}
FORBIDDEN_CALLS = {"open", "print", "input"}


def pure_files():
    for folder, patterns in PURE.items():
        for pattern in patterns:
            yield from sorted((ROOT / folder).glob(pattern))


def imported(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module or ""


def problems_of(path: pathlib.Path) -> "list[str]":
    tree = ast.parse(path.read_text(), str(path))
    package = ".".join(path.relative_to(ROOT).parent.parts)
    found = []
    for name in imported(tree):
        top = name.split(".")[0]
        if name in FORBIDDEN or top in FORBIDDEN or not (top == "common" or name == package or name.startswith(package + ".") or name in PURE_LOCAL
                  or top in sys.stdlib_module_names):
            found.append(f"imports {name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            found.append(f"line {node.lineno} calls {node.func.id}()")
    return found


def test_the_pure_core_exists():
    assert len(list(pure_files())) >= 30


@pytest.mark.parametrize("path", list(pure_files()), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_is_pure(path):
    assert not problems_of(path)


def test_the_scan_catches_io(tmp_path):
    bad = ROOT / "dfget" / "core" / "_purity_probe.py"
    try:
        bad.write_text("import socket\nfrom requests import get\nopen('x')\n")
        assert len(problems_of(bad)) == 3
    finally:
        bad.unlink()
