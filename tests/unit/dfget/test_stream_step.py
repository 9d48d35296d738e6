"""How much dfget reads at a time while it hands a piece on as it arrives (cut-through): about
20 ms of the rate seen so far, so that each host of a chain adds little delay on a slow link and a
fast link still reads in large slices."""

from dfget.piece_fetcher import READ_STEP, STREAM_STEP_MIN, stream_step


def test_a_slow_link_reads_small_slices():
    quarter_of_10_mbit = 312_500  # bytes/s
    assert stream_step(quarter_of_10_mbit, 1.0) == STREAM_STEP_MIN
    assert stream_step(12_500_000, 1.0) == 250_000  # 100 Mbit/s: 20 ms of it


def test_a_fast_link_reads_whole_mebibytes():
    assert stream_step(1 << 30, 1.0) == READ_STEP


def test_before_any_time_has_passed_it_reads_what_it_can():
    assert stream_step(0, 0.0) == READ_STEP
