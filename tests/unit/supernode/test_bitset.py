"""The §5 bitset: 8 bits per piece, SEMISUC recorded as SUCCESS, SUCCESS sticky."""

import pytest

from common.protocol.codes import PieceStatus as S
from supernode.core.bitset import PieceBits

# (status before, update, changed?, status after)
TABLE = [
    (S.WAITING, S.RUNNING, True, S.RUNNING),
    (S.WAITING, S.SUCCESS, True, S.SUCCESS),
    (S.WAITING, S.SEMISUC, True, S.SUCCESS),
    (S.WAITING, S.FAILED, True, S.FAILED),
    (S.WAITING, S.WAITING, True, S.WAITING),
    (S.RUNNING, S.FAILED, True, S.FAILED),
    (S.RUNNING, S.SEMISUC, True, S.SUCCESS),
    (S.RUNNING, S.WAITING, True, S.WAITING),
    (S.FAILED, S.RUNNING, True, S.RUNNING),
    (S.FAILED, S.SUCCESS, True, S.SUCCESS),
    (S.SUCCESS, S.FAILED, False, S.SUCCESS),
    (S.SUCCESS, S.RUNNING, False, S.SUCCESS),
    (S.SUCCESS, S.WAITING, False, S.SUCCESS),
    (S.SUCCESS, S.SEMISUC, False, S.SUCCESS),
]


@pytest.mark.parametrize("before,update,changed,after", TABLE)
def test_update_table(before, update, changed, after):
    bits = PieceBits()
    bits.update(3, before)
    assert bits.update(3, update) is changed
    assert bits.status(3) is after
    assert bits.is_success(3) is (after is S.SUCCESS)


def test_v1_integer_encoding_one_bit_per_piece():
    bits = PieceBits()
    bits.update(0, S.SUCCESS)
    bits.update(1, S.RUNNING)
    bits.update(2, S.FAILED)
    bits.update(3, S.SEMISUC)
    assert bits.value == (1 << 1) | (1 << 8) | (1 << 18) | (1 << 25)
    assert bits.successes() == {0, 3}
    assert bits.success_count() == 2


def test_pieces_are_independent():
    bits = PieceBits()
    bits.update(5, S.SUCCESS)
    bits.update(6, S.FAILED)
    assert bits.status(4) is S.WAITING and bits.status(6) is S.FAILED and bits.is_success(5)
