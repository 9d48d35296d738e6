"""The lint and type gate: `ruff check .`, `ruff format --check .` and `mypy` (settings in
pyproject.toml) pass on the tree.

Each tool runs as a subprocess from the repository root; a failure shows the tool's own report.
A tool that is not installed skips its test (install the `test` extra to get both).
"""

import importlib.util
import pathlib
import subprocess
import sys
import tomllib

import pytest

from tests.unit.test_purity import pure_files

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Both take a few seconds on an idle machine; the deadline allows for a loaded one.
DEADLINE = 120


def _run(module: str, *args: str) -> subprocess.CompletedProcess:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[test]')")
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        stdin=subprocess.DEVNULL,
    )


def test_ruff_finds_nothing():
    r = _run("ruff", "check", "--output-format", "concise", ".")
    assert r.returncode == 0, f"ruff check . failed:\n{r.stdout}{r.stderr}"


def test_the_tree_is_formatted():
    r = _run("ruff", "format", "--check", ".")
    assert r.returncode == 0, f"ruff format --check . failed (run `ruff format .`):\n{r.stdout}{r.stderr}"


def test_mypy_finds_nothing_and_the_pure_cores_are_strict():
    # The settings say what mypy checks; they must keep covering the pure cores, strictly.
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert settings.get("strict") is True
    assert {"common", "supernode/core", "dfget/core"} <= set(settings["files"])
    checked = [ROOT / f for f in settings["files"]]
    unchecked = [str(p.relative_to(ROOT)) for p in pure_files() if not any(p == c or c in p.parents for c in checked)]
    assert not unchecked, f"pure modules missing from [tool.mypy] files: {unchecked}"
    r = _run("mypy")
    assert r.returncode == 0, f"mypy failed:\n{r.stdout}{r.stderr}"
