"""The flight file (common/flight.py, common/shell/flight.py): its records, torn reads, attempts,
and its life cycle."""

import os
import random

import pytest

from common import flight
from common.flight import FAILED, IDLE, RECORD_SIZE, Flight
from common.shell import flight as flight_io
from common.shell.flight import FlightReader, FlightWriter


def test_a_record_round_trips_and_is_forty_bytes():
    f = Flight(attempt=7, offset=3 * 4194299, length=4194299, written=262144)
    data = flight.encode(f)
    assert len(data) == RECORD_SIZE == 40
    assert flight.decode(data) == f
    assert f.open and not f.failed and f.covers(f.offset) and not f.covers(f.offset + f.length)


def test_zeros_or_a_short_read_are_a_piece_not_in_flight():
    assert flight.decode(bytes(RECORD_SIZE)) == IDLE
    assert flight.decode(b"") == IDLE
    assert flight.decode(flight.encode(Flight(1, 0, 10, 5))[:20]) == IDLE
    assert not IDLE.open and not IDLE.failed


def test_a_failed_record_is_neither_open_nor_idle():
    f = flight.decode(flight.encode(Flight(2, 0, 100, FAILED)))
    assert f is not None and f.failed and not f.open


def test_a_record_half_old_half_new_is_torn():
    old = flight.encode(Flight(1, 0, 4194299, 262144))
    new = flight.encode(Flight(2, 0, 4194299, 0))
    assert flight.decode(old[:20] + new[20:]) is None
    assert flight.decode(new[:20] + old[20:]) is None


def test_a_byte_by_byte_mix_of_two_records_never_passes_for_a_third():
    """However a read interleaves an old and a new record byte by byte, what decodes is one of
    them (the crc covers every field): never a `written` beyond what was published."""
    rng = random.Random(5)
    for _ in range(300):
        length = rng.randrange(1, 15 << 20)
        a = Flight(rng.randrange(1, 99), rng.randrange(0, 1 << 30), length, rng.randrange(0, length))
        b = Flight(a.attempt, a.offset, length, min(length, a.written + rng.randrange(1, 1 << 20)))
        old, new = flight.encode(a), flight.encode(b)
        for _ in range(40):
            mix = bytes(old[i] if rng.random() < 0.5 else new[i] for i in range(RECORD_SIZE))
            assert flight.decode(mix) in (a, b, None)


def test_fields_that_cannot_be_are_refused_even_with_a_good_crc():
    for bad in (Flight(1, 0, 10, 11), Flight(1, 0, -1, 0), Flight(1, -5, 10, 0), Flight(1, 0, 10, -2)):
        assert flight.decode(flight.encode(bad)) is None


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "f-1-2.3.flight")


def test_writer_publishes_progress_then_clears_a_piece_that_checked_out(path):
    w = FlightWriter(path)
    r = FlightReader.open(path)
    assert r is not None
    attempt = w.begin(2, offset=2 * 1000, length=1000)
    assert r.read(2) == Flight(attempt, 2000, 1000, 0)
    assert r.read(0) == IDLE and r.read(1) == IDLE  # never written: a hole
    w.progress(2, attempt, 600)
    assert r.read(2).written == 600
    w.progress(2, attempt, 500)  # never backwards
    assert r.read(2).written == 600
    w.progress(2, attempt, 5000)  # never past the piece
    assert r.read(2).written == 1000
    w.done(2, attempt)
    assert r.read(2) == IDLE
    w.close()
    r.close()


def test_a_restarted_piece_has_a_new_attempt_and_the_old_one_cannot_touch_it(path):
    w = FlightWriter(path)
    r = FlightReader.open(path)
    first = w.begin(0, 0, 1000)
    w.progress(0, first, 900)
    w.failed(0, first)
    assert r.read(0).failed
    second = w.begin(0, 0, 1000)
    assert second != first
    w.progress(0, first, 1000)  # a late write of the abandoned attempt
    w.done(0, first)
    now = r.read(0)
    assert now == Flight(second, 0, 1000, 0)  # a reader that sent 900 bytes of `first` sees the change
    w.close()
    r.close()


def test_fail_all_marks_open_pieces_failed_and_empties_the_file(path):
    w = FlightWriter(path)
    r = FlightReader.open(path)
    a = w.begin(0, 0, 100)
    b = w.begin(3, 300, 100)
    seen = []
    orig = w._put

    def spy(num, f, keep=True):
        seen.append((num, f.written))
        orig(num, f, keep)

    w._put = spy
    w.fail_all()
    assert sorted(seen) == [(0, FAILED), (3, FAILED)]
    assert os.path.getsize(path) == 0
    assert r.read(0) == IDLE and r.read(3) == IDLE
    w.progress(0, a, 50)  # forgotten: no record comes back
    w.progress(3, b, 50)
    assert os.path.getsize(path) == 0
    w.close()
    r.close()


def test_close_fails_what_is_open_removes_the_file_and_a_reader_sees_it_gone(path):
    w = FlightWriter(path)
    r = FlightReader.open(path)
    a = w.begin(1, 100, 100)
    w.close()
    assert not os.path.exists(path)
    assert r.removed
    assert r.read(1).failed and r.read(1).attempt == a
    r.close()
    assert FlightReader.open(path) is None
    assert flight_io.read_flights(path) is None
    w.begin(0, 0, 10)  # after close: nothing happens, nothing raises
    w.close()


def test_read_flights_and_the_first_unsettled_offset(path):
    w = FlightWriter(path)
    assert flight_io.read_flights(path) == []
    assert flight.first_unsettled([]) is None
    a = w.begin(4, 400, 100)
    b = w.begin(2, 200, 100)
    w.progress(4, a, 100)
    found = flight_io.read_flights(path)
    assert [f.offset for f in found if f.length] == [200, 400]
    assert flight.first_unsettled(found) == 200
    w.failed(2, b)
    assert flight.first_unsettled(flight_io.read_flights(path)) == 200  # failed bytes are no better
    w.done(4, a)
    w.done(2, b)  # not open any more: a failed record stays failed until the next attempt
    assert flight.first_unsettled(flight_io.read_flights(path)) == 200
    c = w.begin(2, 200, 100)
    w.progress(2, c, 100)
    w.done(2, c)
    assert flight.first_unsettled(flight_io.read_flights(path)) is None
    w.close()


def test_a_record_that_stays_torn_reads_as_failed(path, monkeypatch):
    monkeypatch.setattr(flight_io.time, "sleep", lambda s: None)
    good = flight.encode(Flight(1, 0, 100, 50))
    with open(path, "wb") as f:
        f.write(good[:-8] + b"\xff\xff\xff\xff\x00\x00\x00\x00")  # a crc that never matches
    r = FlightReader.open(path)
    assert r.read(0).failed
    assert flight.first_unsettled(r.all()) == 0
    r.close()


def test_a_symlinked_flight_file_is_not_followed(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_bytes(flight.encode(Flight(1, 0, 100, 50)))
    link = tmp_path / "x.flight"
    link.symlink_to(target)
    assert FlightReader.open(str(link)) is None
