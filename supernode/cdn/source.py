"""The source client: probe, revalidate and stream the origin with `requests`.

One requests.Session per TLS setting (insecure / a set of root CAs). Root CAs arrive as base64
PEM (v1's rootCAs); each set is written once to `<home>/tls/ca-<hash>.pem` and used as the only
trust anchors, like v1's Go client. Redirects are followed. Transport errors become status 0.
We always ask for `Accept-Encoding: identity` unless the task's headers say otherwise and read the
body undecoded, so the CDN stores exactly the bytes the source serves.
"""
import base64
import binascii
import hashlib
import logging
import os
import re
import tempfile
import threading
from typing import Callable, Iterator

import requests
import urllib3

from common.urls import REDACTED, redact_url
from supernode.cdn.contract import ProbeResult, SourceRequest, TlsOptions

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", re.I)
_HEAD_REFUSED = (400, 403, 405, 501)   # servers (and presigned URLs) that do not answer HEAD properly
_QUERY = re.compile(r"\?[^\s)'\"]*")


def _failed(method: str, request: SourceRequest, e: Exception) -> str:
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

    def __init__(self, status: int, response: "requests.Response | None" = None, error: str = ""):
        self.status = status
        self.error = error
        self._response = response
        self.headers = response.headers if response is not None else requests.structures.CaseInsensitiveDict()

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        if self._response is None:
            return iter(())
        return self._response.raw.stream(size, decode_content=False)

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


class SourceClient:
    def __init__(self, home_dir: str, *, probe_timeout: float, read_timeout: float,
                 session_factory: "Callable[[], requests.Session] | None" = None):
        self._ca_dir = os.path.join(home_dir, "tls")
        self._probe_timeout = probe_timeout
        self._read_timeout = read_timeout
        self._session_factory = session_factory or requests.Session
        self._sessions: "dict[TlsOptions, tuple[requests.Session, object]]" = {}
        self._lock = threading.Lock()

    # -- sessions --------------------------------------------------------------------------
    def _session(self, tls: TlsOptions) -> "tuple[requests.Session, object]":
        with self._lock:
            found = self._sessions.get(tls)
            if found is None:
                verify = False if tls.insecure else (self._ca_bundle(tls.root_cas) if tls.root_cas else True)
                session = self._session_factory()
                session.verify = verify
                found = self._sessions[tls] = (session, verify)
            return found

    def _ca_bundle(self, root_cas: "tuple[str, ...]") -> str:
        pems = []
        for item in root_cas:
            try:
                pems.append(base64.b64decode(item, validate=False).decode("ascii").strip())
            except (binascii.Error, UnicodeDecodeError):
                log.warning("ignoring a root CA that is not base64 PEM")
        text = "\n".join(pems) + "\n"
        path = os.path.join(self._ca_dir, f"ca-{hashlib.sha256(text.encode()).hexdigest()[:16]}.pem")
        if not os.path.exists(path):
            os.makedirs(self._ca_dir, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self._ca_dir, suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, path)
        return path

    def _request(self, method: str, request: SourceRequest, extra: "dict[str, str]", *,
                 timeout, stream: bool) -> requests.Response:
        session, verify = self._session(request.tls)
        headers = dict(request.headers)
        if not any(k.lower() == "accept-encoding" for k in headers):
            headers["Accept-Encoding"] = "identity"
        headers.update(extra)
        return session.request(method, request.url, headers=headers, timeout=timeout, stream=stream,
                               verify=verify, allow_redirects=True)

    # -- probe -----------------------------------------------------------------------------
    def probe(self, request: SourceRequest) -> ProbeResult:
        """HEAD; fall back to `GET Range: bytes=0-0` if HEAD is refused or gives no length."""
        if any(k.lower() == "range" for k in request.headers):
            return self._probe_get(request, {})     # the task is a range of its own
        try:
            resp = self._request("HEAD", request, {}, timeout=self._probe_timeout, stream=False)
        except STREAM_ERRORS as e:
            return ProbeResult(0, error=_failed("HEAD", request, e))
        length = _length_header(resp.headers)
        if resp.status_code in _HEAD_REFUSED or (resp.ok and length < 0):
            fallback = self._probe_get(request, {"Range": "bytes=0-0"})
            if fallback.status != 0 or resp.status_code in _HEAD_REFUSED:
                return fallback
        return ProbeResult(resp.status_code, length=length if resp.ok else -1,
                           supports_range="bytes" in resp.headers.get("Accept-Ranges", "").lower(),
                           last_modified=resp.headers.get("Last-Modified", ""), etag=resp.headers.get("ETag", ""))

    def _probe_get(self, request: SourceRequest, extra: "dict[str, str]") -> ProbeResult:
        try:
            resp = self._request("GET", request, extra, timeout=self._probe_timeout, stream=True)
        except STREAM_ERRORS as e:
            return ProbeResult(0, error=_failed("GET", request, e))
        try:
            status, length, ranges = resp.status_code, -1, False
            cr = parse_content_range(resp.headers.get("Content-Range", ""))
            if status == 206 and cr and extra:
                length, ranges = cr[2], True
            elif status == 416 and cr and cr[2] == 0:
                status, length, ranges = 200, 0, True    # an empty source cannot serve byte 0
            elif 200 <= status < 300:
                length = _length_header(resp.headers)
            return ProbeResult(status, length=length, supports_range=ranges,
                               last_modified=resp.headers.get("Last-Modified", ""), etag=resp.headers.get("ETag", ""))
        finally:
            resp.close()

    # -- revalidation ----------------------------------------------------------------------
    def revalidate(self, request: SourceRequest, conditions: "dict[str, str]") -> int:
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
    def open(self, request: SourceRequest, *, start: int = 0, if_range: str = "") -> SourceStream:
        """GET the source (from byte `start` with Range when > 0); status 0 on transport errors."""
        extra = {}
        if start > 0:
            extra["Range"] = f"bytes={start}-"
            if if_range:
                extra["If-Range"] = if_range
        try:
            resp = self._request("GET", request, extra, timeout=(self._probe_timeout, self._read_timeout),
                                 stream=True)
        except STREAM_ERRORS as e:
            return SourceStream(0, error=_failed("GET", request, e))
        return SourceStream(resp.status_code, resp)

    def close(self) -> None:
        with self._lock:
            for session, _ in self._sessions.values():
                session.close()
            self._sessions.clear()
