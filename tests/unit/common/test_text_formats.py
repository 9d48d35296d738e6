import pytest

from common.errors import BadInput
from common.units import format_duration, format_size, parse_duration, parse_rate
from common.urls import convert_headers, filter_url, split_filter, validate_source_url


@pytest.mark.parametrize(
    "text,value",
    [
        ("20M", 20 * 1024**2),
        ("20MB", 20 * 1024**2),
        ("64KB", 65536),
        ("1k", 1024),
        ("100G", 100 * 1024**3),
        ("512", 512),
        ("10B", 10),
        (7, 7),
        ("1.5M", 1572864),
    ],
)
def test_parse_rate(text, value):
    assert parse_rate(text) == value


@pytest.mark.parametrize("text", ["", "abc", "20X", "-5", "M", True])
def test_parse_rate_rejects(text):
    with pytest.raises(BadInput):
        parse_rate(text)


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("30s", 30),
        ("3m", 180),
        ("1h30m", 5400),
        ("500ms", 0.5),
        ("87600h", 315360000),
        ("0", 0),
        ("2h", 7200),
        ("1.5s", 1.5),
        (5, 5.0),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "3x", "m", "3m ago", "-1s", "1h-1m"])
def test_parse_duration_rejects(text):
    with pytest.raises(BadInput):
        parse_duration(text)


def test_formats_round_trip():
    for seconds in (180, 5400, 0.5, 6, 7200):
        assert parse_duration(format_duration(seconds)) == seconds
    for size in (20 * 1024**2, 64 * 1024, 100 * 1024**3, 1000):
        assert parse_rate(format_size(size)) == size


def test_filter_url_keeps_order_and_encoding():
    url = "http://h/p?a=1&b=%20x&c=3"
    assert filter_url(url, split_filter("a&c")) == "http://h/p?b=%20x"
    assert filter_url(url, ["a", "b", "c"]) == "http://h/p"
    assert filter_url(url, []) == url
    assert filter_url("http://h/p", ["a"]) == "http://h/p"
    assert filter_url("http://h/p?x&a=2", ["a"]) == "http://h/p?x"


def test_convert_headers():
    assert convert_headers(["A: 1", "b:2", "A: 3", "nocolon", "c:", " d : e:f "]) == {"A": "1,3", "b": "2", "d": "e:f"}


@pytest.mark.parametrize("url", ["http://h/x", "https://h:8080/x?y", "HTTP://h"])
def test_valid_urls(url):
    assert validate_source_url(url) == url


@pytest.mark.parametrize(
    "url", ["", "ftp://h/x", "http://", "h/x", "http:///x", "http://h:99999/x", "file:///etc/passwd"]
)
def test_invalid_urls(url):
    with pytest.raises(BadInput):
        validate_source_url(url)
