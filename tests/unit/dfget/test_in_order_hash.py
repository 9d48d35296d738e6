"""The booking behind the output's running md5 (dfget/core/prefix.py InOrderHash)."""

from dfget.core.prefix import InOrderHash, Stretch


def _drain(book: InOrderHash) -> "list[Stretch]":
    out = []
    while (s := book.take()) is not None:
        out.append(s)
        book.done(True)
    return out


def test_pieces_in_order_are_handed_out_in_order_from_memory():
    book = InOrderHash(budget=0)
    for i in range(3):
        assert book.land(i * 10, 10, f"p{i}") == []  # the head of the prefix is always kept
        assert _drain(book) == [Stretch(i * 10, 10, f"p{i}")]
    assert book.hashed == 30 and book.idle


def test_pieces_ahead_wait_for_the_gap_and_come_out_in_file_order():
    book = InOrderHash(budget=100)
    assert book.land(20, 10, "c") == []
    assert book.land(10, 10, "b") == []
    assert book.take() is None  # 0-10 has not landed
    assert book.held == 20
    book.land(0, 10, "a")
    assert [s.payload for s in _drain(book)] == ["a", "b", "c"]
    assert book.hashed == 30 and book.held == 0


def test_only_one_stretch_is_out_at_a_time():
    book = InOrderHash(budget=100)
    book.land(0, 10, "a")
    book.land(10, 10, "b")
    first = book.take()
    assert first == Stretch(0, 10, "a") and book.take() is None and not book.idle
    assert book.done(True) == ["a"]  # handed back once hashed
    assert book.take() == Stretch(10, 10, "b")


def test_beyond_the_budget_only_the_place_is_booked():
    book = InOrderHash(budget=15)
    assert book.land(10, 10, "b") == []  # kept: 10 bytes held
    assert book.land(20, 10, "c") == ["c"]  # over budget: handed back, read back later
    book.land(0, 10, "a")
    assert _drain(book) == [Stretch(0, 10, "a"), Stretch(10, 10, "b"), Stretch(20, 10, None)]


def test_a_place_without_payload_is_read_back():
    book = InOrderHash(budget=100)
    assert book.land(0, 10) == []
    assert book.take() == Stretch(0, 10, None)


def test_a_rewrite_inside_the_prefix_or_twice_ahead_gives_up_and_hands_everything_back():
    book = InOrderHash(budget=100)
    book.land(0, 10, "a")
    _drain(book)
    book.land(30, 10, "d")
    assert sorted(book.land(0, 10, "a2")) == ["a2", "d"]
    assert not book.usable and book.idle and book.take() is None
    book = InOrderHash(budget=100)
    book.land(30, 10, "d")
    assert sorted(book.land(30, 10, "d2")) == ["d", "d2"]
    assert not book.usable


def test_a_rewrite_of_the_stretch_being_hashed_gives_up():
    book = InOrderHash(budget=100)
    book.land(0, 10, "a")
    book.take()
    assert book.land(0, 10, "a2") == ["a2"]
    assert not book.usable
    assert book.done(True) == ["a"]


def test_a_failed_hash_gives_up():
    book = InOrderHash(budget=100)
    book.land(0, 10, None)
    book.land(10, 10, "b")
    book.take()
    assert book.done(False) == ["b"]
    assert not book.usable


def test_rest_is_what_was_never_hashed():
    book = InOrderHash(budget=100)
    book.land(0, 10, "a")
    book.land(20, 10, "c")  # 10-20 never booked
    _drain(book)
    stretch, freed = book.rest(30)
    assert stretch == Stretch(10, 20, None) and freed == ["c"]
    book = InOrderHash(budget=100)
    book.land(0, 10, "a")
    _drain(book)
    assert book.rest(10) == (None, [])
    book = InOrderHash(budget=100)
    book.land(0, 10, "a")
    _drain(book)
    assert book.rest(5) == (None, []) and not book.usable  # hashed past the file's end


def test_drop_hands_back_what_is_kept_and_the_stretch_out_comes_back_through_done():
    book = InOrderHash(budget=100)
    book.land(0, 10, "a")
    book.land(20, 10, "c")
    book.take()
    assert book.drop() == ["c"]
    assert book.done(True) == ["a"]
    assert book.take() is None
