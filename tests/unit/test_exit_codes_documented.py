"""docs/operations.md#exit-codes lists every exit status each program can return, and no other:
the enums are the one definition, the page must follow them."""

import pathlib
import re

from dfdaemon.settings import ExitCode
from dfget.status import ExitStatus

DOC = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
SECTION = DOC.split("## Exit codes", 1)[1].split("\n## ", 1)[0]


def paragraph(program: str) -> str:
    return SECTION.split(f"**{program}**", 1)[1].split("\n\n**", 1)[0]


def test_the_dfget_table_lists_exactly_the_exit_statuses():
    rows = re.findall(r"^\| (\d+) \|", paragraph("dfget"), re.M)
    assert sorted(int(r) for r in rows) == sorted(int(s) for s in ExitStatus)


def test_the_dfdaemon_paragraph_names_every_exit_code():
    text = paragraph("dfdaemon")
    named = {int(n) for n in re.findall(r"(?<![\d–-])(\d+) (?=[a-z`])", text)}
    assert named == {int(c) for c in ExitCode}, named


def test_the_supernode_exit_status_on_a_bad_start_is_documented():
    import inspect

    from supernode import cli

    assert "sys.exit(2)" in inspect.getsource(cli)
    assert paragraph("supernode").lstrip(": ").startswith("2 on")
