"""The source client: probe, revalidate and stream the origin with `requests`.

Sessions are kept per TLS setting (insecure / a set of root CAs), at most MAX_SESSIONS of them,
least recently used closed first: every registration may bring its own rootCAs. Root CAs arrive
as base64 PEM (v1's rootCAs) and are the only trust anchors, like v1's Go client; the PEM file
`<home>/tls/ca-*.pem` exists only while a request sets up its connections (leftovers of a crash
are removed at start). Redirects are followed here, hop by hop: each hop must pass sourceAllow
(and the extra lists of `restricted`, e.g. preheatAllow for a preheat's URL), and a hop to another
origin carries only headers that cannot be credentials (supernode.core.allow). Transport errors
and refused hops become status 0 with an error. We always ask for `Accept-Encoding: identity`
unless the task's headers say otherwise and read the body undecoded, so the CDN stores exactly
the bytes the source serves. Bodies are read with read1 (what has arrived, up to a chunk), so a
source trickling bytes is seen chunk by chunk and the builder's rate floor can act on it.
"""

import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import requests
import urllib3

from common.source_access import SourceAccess
from common.source_failures import explain
from common.urls import REDACTED, redact_url
from supernode.cdn.core.contract import ProbeResult
from supernode.cdn.sessions import SessionPool
from supernode.core import allow

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", re.I)
_HEAD_REFUSED = (400, 403, 405, 501)  # servers (and presigned URLs) that do not answer HEAD properly
_QUERY = re.compile(r"\?[^\s)'\"]*")


def _failed(method: str, request: SourceAccess, e: Exception) -> str:
    """An error text for logs and answers: the URL without userinfo or query values, and any query
    the library quoted in its message hidden (a query may carry a signature or a token)."""
    return f"{method} {redact_url(request.url)}: {_QUERY.sub('?' + REDACTED, str(e))}"


# What a broken or stalled stream raises from deep inside requests/urllib3.
STREAM_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, OSError)


def parse_content_range(value: str) -> "tuple[int, int, int] | None":
    """`bytes a-b/total` -> (a, b, total); `*` parts -> -1; None if malformed."""
    m = _CONTENT_RANGE.match(value or "")
    if not m:
        return None
    start = int(m.group(1)) if m.group(1) is not None else -1
    end = int(m.group(2)) if m.group(2) is not None else -1
    total = int(m.group(3)) if m.group(3) != "*" else -1
    return start, end, total


def _length_header(headers) -> int:
    value = headers.get("Content-Length", "")
    return int(value) if value.isdigit() else -1


class SourceStream:
    """An open streamed response; iterate `chunks()` once, then `close()`."""

    def __init__(
        self,
        status: int,
        response: "requests.Response | None" = None,
        error: str = "",
        refused: bool = False,
        unreachable=None,
    ):
        self.status = status
        self.error = error
        self.refused = refused  # a hop was not allowed: no request was sent there
        self.unreachable = unreachable  # status 0: common.source_failures.Unreachable when known
        self._response = response
        self.headers = response.headers if response is not None else requests.structures.CaseInsensitiveDict()

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        if self._response is None:
            return
        raw = self._response.raw
        while True:
            data = raw.read1(size, decode_content=False)
            if not data:
                return
            yield data

    def close(self) -> None:
        if self._response is not None:
            self._response.close()

    @property
    def content_range(self) -> "tuple[int, int, int] | None":
        return parse_content_range(self.headers.get("Content-Range", ""))

    @property
    def content_length(self) -> int:
        return _length_header(self.headers)

    @property
    def total_length(self) -> int:
        """The full source length this response declares (-1 unknown)."""
        if self.status == 206:
            cr = self.content_range
            return cr[2] if cr else -1
        return _length_header(self.headers) if self.status == 200 else -1

    @property
    def last_modified(self) -> str:
        return self.headers.get("Last-Modified", "")

    @property
    def etag(self) -> str:
        return self.headers.get("ETag", "")


class HopRefused(requests.RequestException):
    """A hop of the request is not allowed (sourceAllow, a restriction, too many redirects); nothing
    was sent to it. A RequestException, so every caller's transport-error path reports it."""


class SourceClient:
    def __init__(
        self,
        home_dir: str,
        *,
        probe_timeout: float,
        read_timeout: float,
        session_factory: "Callable[[], requests.Session] | None" = None,
        allow_list=(),
    ):
        self._probe_timeout = probe_timeout
        self._read_timeout = read_timeout
        self.sessions = SessionPool(os.path.join(home_dir, "tls"), session_factory or requests.Session)
        self._allow = tuple(allow_list)
        self._restrictions: dict[str, Counter] = {}
        self._lock = threading.Lock()

    # -- hops ------------------------------------------------------------------------------
    @contextmanager
    def restricted(self, url: str, patterns, name: str = "preheatAllow"):
        """While inside, every hop of a fetch of `url` must also match `patterns` (empty = no-op)."""
        patterns = tuple(patterns)
        if not patterns:
            yield
            return
        key = (name, patterns)
        with self._lock:
            self._restrictions.setdefault(url, Counter())[key] += 1
        try:
            yield
        finally:
            with self._lock:
                counts = self._restrictions[url]
                counts[key] -= 1
                if counts[key] <= 0:
                    del counts[key]
                if not counts:
                    del self._restrictions[url]

    def _rules(self, url: str) -> "list[tuple[str, tuple[str, ...]]]":
        """(name, patterns) lists every hop of a request for `url` must pass."""
        with self._lock:
            extra = list(self._restrictions.get(url, ()))
        return ([("sourceAllow", self._allow)] if self._allow else []) + extra

    def _request(
        self, method: str, request: SourceAccess, extra: "dict[str, str]", *, timeout, stream: bool
    ) -> requests.Response:
        """Send the request, following redirects hop by hop (HopRefused when a hop is not allowed)."""
        session = self.sessions.session(request.tls)
        headers = dict(request.headers)
        if not any(k.lower() == "accept-encoding" for k in headers):
            headers["Accept-Encoding"] = "identity"
        headers.update(extra)
        user = requests.utils.get_auth_from_url(request.url)
        if any(user) and not any(k.lower() == "authorization" for k in headers):
            # the URL's userinfo, as requests would send it, but only to the origin the user named
            headers["Authorization"] = requests.auth._basic_auth_str(*user)
        rules, url = self._rules(request.url), request.url
        with self.sessions.trust(request.tls) as verify:
            for _ in range(allow.MAX_HOPS + 1):
                try:
                    allow.check(url, rules)
                except allow.UrlRefused as e:
                    raise HopRefused(str(e)) from None
                resp = session.request(
                    method,
                    url,
                    headers=allow.headers_for(url, request.url, headers),
                    timeout=timeout,
                    stream=stream,
                    verify=verify,
                    allow_redirects=False,
                )
                target = allow.next_hop(url, resp.status_code, resp.headers.get("Location"))
                if target is None:
                    return resp
                resp.close()
                if resp.status_code == 303 and method != "HEAD":
                    method = "GET"
                url = target
        raise HopRefused(f"more than {allow.MAX_HOPS} redirects from {allow.shown(request.url)}")

    # -- probe -----------------------------------------------------------------------------
    def probe(self, request: SourceAccess) -> ProbeResult:
        """HEAD; fall back to `GET Range: bytes=0-0` if HEAD is refused or gives no length."""
        if request.headers.has("Range"):
            return self._probe_get(request, {})  # the task is a range of its own
        try:
            resp = self._request("HEAD", request, {}, timeout=self._probe_timeout, stream=False)
        except STREAM_ERRORS as e:
            return ProbeResult(0, error=_failed("HEAD", request, e), unreachable=explain(e, request.url))
        length = _length_header(resp.headers)
        if resp.status_code in _HEAD_REFUSED or (resp.ok and length < 0):
            fallback = self._probe_get(request, {"Range": "bytes=0-0"})
            if fallback.status != 0 or resp.status_code in _HEAD_REFUSED:
                return fallback
        return ProbeResult(
            resp.status_code,
            length=length if resp.ok else -1,
            supports_range="bytes" in resp.headers.get("Accept-Ranges", "").lower(),
            last_modified=resp.headers.get("Last-Modified", ""),
            etag=resp.headers.get("ETag", ""),
        )

    def _probe_get(self, request: SourceAccess, extra: "dict[str, str]") -> ProbeResult:
        try:
            resp = self._request("GET", request, extra, timeout=self._probe_timeout, stream=True)
        except STREAM_ERRORS as e:
            return ProbeResult(0, error=_failed("GET", request, e), unreachable=explain(e, request.url))
        try:
            status, length, ranges = resp.status_code, -1, False
            cr = parse_content_range(resp.headers.get("Content-Range", ""))
            if status == 206 and cr and extra:
                length, ranges = cr[2], True
            elif status == 416 and cr and cr[2] == 0:
                status, length, ranges = 200, 0, True  # an empty source cannot serve byte 0
            elif 200 <= status < 300:
                length = _length_header(resp.headers)
            return ProbeResult(
                status,
                length=length,
                supports_range=ranges,
                last_modified=resp.headers.get("Last-Modified", ""),
                etag=resp.headers.get("ETag", ""),
            )
        finally:
            resp.close()

    # -- revalidation ----------------------------------------------------------------------
    def revalidate(self, request: SourceAccess, conditions: "dict[str, str]") -> int:
        """Status of a conditional HEAD (GET if HEAD is refused); 304 = not modified; 0 = error."""
        try:
            resp = self._request("HEAD", request, conditions, timeout=self._probe_timeout, stream=False)
            if resp.status_code not in _HEAD_REFUSED:
                return resp.status_code
            resp = self._request("GET", request, conditions, timeout=self._probe_timeout, stream=True)
            resp.close()
            return resp.status_code
        except STREAM_ERRORS as e:
            log.info("revalidation failed url=%s error=%s", redact_url(request.url), e)
            return 0

    # -- the build's stream ----------------------------------------------------------------
    def open(self, request: SourceAccess, *, start: int = 0, if_range: str = "") -> SourceStream:
        """GET the source (from byte `start` with Range when > 0); status 0 on transport errors,
        status 0 with `refused` set when a hop is not allowed."""
        extra = {}
        if start > 0:
            extra["Range"] = f"bytes={start}-"
            if if_range:
                extra["If-Range"] = if_range
        try:
            resp = self._request("GET", request, extra, timeout=(self._probe_timeout, self._read_timeout), stream=True)
        except HopRefused as e:
            return SourceStream(0, error=str(e), refused=True)
        except STREAM_ERRORS as e:
            return SourceStream(0, error=_failed("GET", request, e), unreachable=explain(e, request.url))
        return SourceStream(resp.status_code, resp)

    def close(self) -> None:
        self.sessions.close()
