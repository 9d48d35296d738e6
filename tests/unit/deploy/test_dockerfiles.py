"""conf/deploy/docker/ and .dockerignore, checked statically (no container engine here): the build
context leaves out .git, .venv and tests but keeps what `pip install .` needs; the images are
multi-stage, run as a non-root user and have a HEALTHCHECK on the port the program listens on."""

import re
import subprocess

import pytest

from tests.unit.deploy.manifests import ROOT, dockerfile_stages, exec_form, flag

DOCKERFILES = ["supernode.Dockerfile", "client.Dockerfile"]


def ignore_patterns() -> "list[str]":
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _regex(pattern: str) -> "re.Pattern":
    """Docker's pattern syntax as used here: `**` any path, `*` and `?` within one component."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def ignored(path: str, patterns) -> bool:
    """A path is left out when it, or a directory above it, matches a pattern."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    return any(_regex(p).fullmatch(prefix) for p in patterns for prefix in prefixes)


def test_dockerignore_semantics_of_this_checker():
    assert ignored(".venv/lib/x.py", [".venv"]) and ignored("a/b/__pycache__/c.pyc", ["**/__pycache__"])
    assert not ignored("setup.py", [".venv", "tests"]) and not ignored("testsuite/x", ["tests"])


def test_dockerignore_keeps_the_heavy_and_private_files_out():
    patterns = ignore_patterns()
    assert not [p for p in patterns if p.startswith("!")], "no exceptions: they are easy to get wrong"
    for path in (
        ".git/config",
        ".venv/bin/python",
        "tests/unit/test_purity.py",
        "supernode/__pycache__/app.cpython-311.pyc",
        "dragonfly_py.egg-info/PKG-INFO",
    ):
        assert ignored(path, patterns), path


def test_dockerignore_keeps_what_the_build_needs():
    """Every tracked file of the packages, setup.py and every file a Dockerfile COPYs stays in."""
    patterns = ignore_patterns()
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    needed = [f for f in tracked if f.split("/")[0] in ("common", "supernode", "dfget", "dfdaemon") or f == "setup.py"]
    for name in DOCKERFILES:
        for stage in dockerfile_stages(name):
            needed += [
                args.split()[0]
                for args in stage.instructions("COPY")
                if not args.startswith("--from") and args.split()[0] != "."
            ]
    assert len(needed) > 50
    assert not [f for f in needed if ignored(f, patterns)]


@pytest.mark.parametrize("name", DOCKERFILES)
def test_multi_stage_and_the_sources_stay_in_the_build_stage(name):
    build, final = dockerfile_stages(name)[0], dockerfile_stages(name)[-1]
    assert len(dockerfile_stages(name)) >= 2 and build.name
    assert "COPY . /src" in build.lines and not [c for c in final.instructions("COPY") if c.split()[0] == "."]
    assert f"--from={build.name} /install /usr/local" in final.instructions("COPY")


@pytest.mark.parametrize("name", DOCKERFILES)
def test_runs_as_a_non_root_user(name):
    final = dockerfile_stages(name)[-1]
    [user] = final.instructions("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root uid (Kubernetes' runAsNonRoot checks numbers)"
    assert any(f"--uid {uid}" in run for run in final.instructions("RUN"))
    assert final.lines.index(f"USER {user}") > max(i for i, line in enumerate(final.lines) if line.startswith("RUN "))


@pytest.mark.parametrize("name, path", [("supernode.Dockerfile", "/_ping"), ("client.Dockerfile", "/debug/version")])
def test_healthcheck_asks_the_port_the_program_listens_on(name, path):
    final = dockerfile_stages(name)[-1]
    [health] = final.instructions("HEALTHCHECK")
    probe = exec_form(health[health.index("CMD ") + 4 :])
    argv = exec_form(final.instructions("ENTRYPOINT")[0]) + exec_form(final.instructions("CMD")[0])
    url = re.search(r"http://[^'\"]+", " ".join(probe)).group(0)
    assert url == f"http://127.0.0.1:{flag(argv, '--port')}{path}"
    assert "--timeout=" in health and "--interval=" in health
