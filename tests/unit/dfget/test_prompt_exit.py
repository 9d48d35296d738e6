"""dfget's exit status after its last line (dfget.prompt_exit)."""

import pytest

from dfget.prompt_exit import _blocking_threads, exit_code_of, exit_promptly


@pytest.mark.parametrize("code, status", [(None, 0), (0, 0), (1, 1), (76, 76), ("boom", 1)])
def test_exit_code_of(code, status):
    assert exit_code_of(code) == status


def test_without_stuck_threads_it_is_an_ordinary_exit():
    if _blocking_threads():  # it would end this very process, by design
        pytest.skip("another test left a thread running")
    with pytest.raises(SystemExit) as e:
        exit_promptly(77, grace=0)
    assert e.value.code == 77
