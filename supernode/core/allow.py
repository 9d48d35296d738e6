"""URL allow-lists (preheatAllow, sourceAllow) and the rules for following a redirect (pure).

A pattern is a regular expression searched in the URL *as it will be fetched*: scheme and host
lower-cased, without userinfo or fragment (`scheme://host[:port]/path?query`). Matching the raw
text let `http://allowed@other/` through a pattern meant for host `allowed`. A URL whose authority
holds characters that URL parsers disagree about (backslash, whitespace, control characters) is
never allowed. An empty list allows every well-formed http(s) URL (v1's behaviour).

Every hop of a fetch is checked, the redirect targets too. On a hop to another origin than the
URL the user named, only the headers in HOP_SAFE_HEADERS are sent: any other header may be a
credential (Authorization, Cookie, X-JFrog-Art-Api, ...) and the user never named that host.
"""

import re
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit

REDIRECTS = (301, 302, 303, 307, 308)
MAX_HOPS = 10
HOP_SAFE_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "user-agent",
        "range",
        "if-range",
        "if-none-match",
        "if-modified-since",
    }
)
_BAD_AUTHORITY = re.compile(r"[\\\s\x00-\x1f\x7f]")


class UrlRefused(Exception):
    """The URL may not be fetched (malformed, or no pattern allows it)."""


def fetched_form(url: str) -> str:
    """`scheme://host[:port]/path?query` of an absolute http(s) URL; UrlRefused if malformed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise UrlRefused(f"malformed url {url!r}: {e}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UrlRefused(f"not an http(s) url with a host: {url!r}")
    if _BAD_AUTHORITY.search(parts.netloc) or parts.netloc.count("@") > 1:
        raise UrlRefused(f"ambiguous host part in url {url!r}")
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    netloc = host if port is None else f"{host}:{port}"
    return f"{parts.scheme.lower()}://{netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def origin(url: str) -> "tuple[str, str, int]":
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


def allowed(url: str, patterns: Iterable[str]) -> bool:
    """Empty `patterns` = any well-formed URL; else some pattern must match its fetched form."""
    try:
        form = fetched_form(url)
    except UrlRefused:
        return False
    if not patterns:
        return True
    for pattern in patterns:
        try:
            if re.search(pattern, form):
                return True
        except re.error:  # a broken pattern allows nothing
            continue
    return False


def check(url: str, rules: Iterable[tuple[str, Iterable[str]]]) -> None:
    """UrlRefused unless every named list in `rules` ((name, patterns) pairs) allows `url`."""
    for name, patterns in rules:
        if not allowed(url, patterns):
            raise UrlRefused(f"url {shown(url)} is not allowed by {name}")


def next_hop(current: str, status: int, location: "str | None") -> "str | None":
    """The redirect target of a response (None when it is not a redirect)."""
    if status not in REDIRECTS or not location:
        return None
    return urljoin(current, location.strip())


def headers_for(url: str, named: str, headers: "dict[str, str]") -> "dict[str, str]":
    """The headers a hop to `url` may carry: all of them on the origin the user `named`, else only
    the ones that cannot be credentials."""
    if origin(url) == origin(named):
        return dict(headers)
    return {k: v for k, v in headers.items() if k.lower() in HOP_SAFE_HEADERS}


def shown(url: str) -> str:
    """What a message may show of a URL: scheme, host, port and path (userinfo and query may be secrets)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<malformed url>"
    netloc = (parts.hostname or "") + (f":{port}" if port is not None else "")
    return f"{parts.scheme}://{netloc}{parts.path}" + ("?…" if parts.query else "")
