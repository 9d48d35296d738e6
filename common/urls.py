"""URL filtering and header conversion exactly as v1 does them (docs/protocol.md#identifiers)."""

import re
from urllib.parse import urlsplit

from common.errors import BadInput

_HTTP_URL = re.compile(r"^(https?|HTTPS?)://[^/?#\s]+")


def validate_source_url(url: str) -> str:
    """Only absolute http(s) URLs with a host may be downloaded."""
    if not url or not _HTTP_URL.match(url):
        raise BadInput(f"invalid url {url!r}: only http:// and https:// URLs with a host are supported")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as e:
        raise BadInput(f"invalid url {url!r}: {e}") from None
    if not parts.hostname:
        raise BadInput(f"invalid url {url!r}: no host")
    return url


def split_filter(text: "str | None") -> "list[str]":
    """CLI `-f 'a&b'` -> ['a', 'b']."""
    return [k for k in (text or "").split("&") if k]


def filter_url(url: str, filters: "list[str] | set[str] | None") -> str:
    """Drop the query parameters named in `filters`, keeping the rest in order, no re-encoding."""
    base, sep, query = url.partition("?")
    if not filters or not sep or not query:
        return url
    drop = set(filters)
    kept = [p for p in query.split("&") if p.split("=", 1)[0] not in drop]
    return base + "?" + "&".join(kept) if kept else base


def convert_headers(lines: "list[str] | None") -> "dict[str, str]":
    """["K: V", ...] -> {K: V}; entries without a colon or value are skipped; repeats join with ','."""
    out: dict[str, str] = {}
    for line in lines or []:
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            continue
        out[key] = f"{out[key]},{value}" if key in out else value
    return out


def headers_to_lines(headers: "dict[str, str] | None") -> "list[str]":
    return [f"{k}: {v}" for k, v in (headers or {}).items()]


REDACTED = "<redacted>"


def has_userinfo(url: str) -> bool:
    """`http://user:pass@host/...`: credentials in the URL itself."""
    try:
        return "@" in urlsplit(url).netloc
    except ValueError:
        return False


def redact_url(url: str) -> str:
    """A URL fit for logs, the API and the console: no userinfo, and every query value hidden
    (a query may carry a signature or a token; its names still say what the URL is)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc.rpartition("@")[2]
    query = (
        "&".join(p.split("=", 1)[0] + (f"={REDACTED}" if "=" in p else "") for p in parts.query.split("&") if p)
        if parts.query
        else ""
    )
    return parts._replace(netloc=netloc, query=query, fragment="").geturl()
