from common.protocol.messages import PieceTask
from dfget.core.sources import clip_range, piece_request, shift_into

SIZE = 4 << 20


def test_framed_piece_request_from_a_peer():
    t = PieceTask(
        range=f"{SIZE * 2}-{SIZE * 3 - 1}",
        piece_num=2,
        piece_size=SIZE,
        cid="c",
        peer_ip="10.0.0.7",
        peer_port=15123,
        path="/peer/file/a-1-2.000",
    )
    req = piece_request(t, "supernode", "1.0.6", user_headers={"X": "y"})
    assert req.url == "http://10.0.0.7:15123/peer/file/a-1-2.000"
    assert req.headers == {
        "Range": f"bytes={SIZE * 2}-{SIZE * 3 - 1}",
        "pieceNum": "2",
        "pieceSize": str(SIZE),
        "User-Agent": "dfget/1.0.6",
    }
    assert req.framed and req.offset == 2 * (SIZE - 5)


def test_raw_piece_request_in_cdn_source_mode():
    t = PieceTask(
        range="100-199", piece_num=1, piece_size=100, cid="c", peer_ip="10.0.0.7", peer_port=15123, path="/peer/file/a"
    )
    req = piece_request(t, "source", "1.0.6", file_length=150, user_headers={"Auth": "t"})
    assert req.headers["Range"] == "bytes=100-149" and req.headers["cdnSource"] == "source"
    assert req.headers["Auth"] == "t" and not req.framed and req.offset == 100


def test_piece_straight_from_the_source_url():
    t = PieceTask(range="0-99", piece_num=0, piece_size=100, path="http://origin/f.bin")
    req = piece_request(t, "source", "1.0.6", file_length=1000, user_headers={"Range": "bytes=500-549"})
    assert req.url == "http://origin/f.bin" and req.headers["Range"] == "bytes=500-549"


def test_range_helpers():
    assert clip_range("0-99", 50) == "0-49" and clip_range("0-99", -1) == "0-99"
    assert shift_into("10-19", "bytes=100-200") == "110-119"
    assert shift_into("10-19", "") == "10-19" and shift_into("10-19", "bytes=x") == "10-19"
