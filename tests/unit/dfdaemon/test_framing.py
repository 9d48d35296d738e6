import pytest

from dfdaemon.core.framing import CHUNKED, LENGTH, NONE, AmbiguousFraming, body_framing


def test_plain_framings():
    assert body_framing([]) == (NONE, 0)
    assert body_framing([("Content-Length", "12")]) == (LENGTH, 12)
    assert body_framing([("Content-Length", "5"), ("content-length", " 5")]) == (LENGTH, 5)  # repeats agree
    assert body_framing([("Transfer-Encoding", "Chunked")]) == (CHUNKED, -1)


@pytest.mark.parametrize(
    "headers",
    [
        [("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
        [("Content-Length", "5"), ("Content-Length", "6")],
        [("Content-Length", "5, 5")],
        [("Content-Length", "-1")],
        [("Content-Length", "0x10")],
        [("Content-Length", "9" * 40)],
        [("Transfer-Encoding", "gzip, chunked")],
        [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")],
    ],
)
def test_ambiguous_framings_are_refused(headers):
    with pytest.raises(AmbiguousFraming):
        body_framing(headers)
