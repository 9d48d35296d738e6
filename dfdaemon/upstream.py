"""Direct requests to registries and origins, and relaying their answers unchanged.

urllib3, not requests: requests folds repeated headers into one (docker's six `Accept` lines
would become one and the registry would answer an old schema1 manifest), urllib3 sends a list of
(name, value) pairs as they are and gives back the response's repeated headers too. Redirects
are not followed (the client follows them, as through v1's reverse proxy); bodies are relayed
raw (no decompression); a 10 s connect timeout as in v1. A digest-addressed request asks for
`Accept-Encoding: identity` (`identity_only`): the digest is over the blob's own bytes, so an
answer in any other Content-Encoding cannot be checked and is refused with 502, never relayed.
"""

import logging
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import urllib3

from common.source_failures import DFDAEMON_TLS_FIX, explain
from dfdaemon.core.rules import HOP_BY_HOP
from dfdaemon.core.verify import DigestMismatch, VerifiedSlice
from dfdaemon.reply import Reply

log = logging.getLogger(__name__)
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 120.0
CHUNK = 64 * 1024
PREFLIGHT_TIMEOUT = 10.0


class UpstreamError(Exception):
    """The upstream could not be reached or broke mid-answer (the remote's fault: 503 to the client)."""


@dataclass(frozen=True)
class Tls:
    insecure: bool = False
    certs: "tuple[str, ...]" = ()


@dataclass(frozen=True)
class Preflight:
    status: int | None  # None: the HEAD did not get an answer
    length: int | None


class Upstream:
    def __init__(self):
        self._pools: dict[Tls, urllib3.PoolManager] = {}
        self._lock = threading.Lock()

    def pool(self, tls: Tls) -> urllib3.PoolManager:
        with self._lock:
            pm = self._pools.get(tls)
            if pm is None:
                ctx = ssl.create_default_context()
                if tls.insecure:
                    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
                for path in tls.certs:
                    ctx.load_verify_locations(cafile=path)
                pm = self._pools[tls] = urllib3.PoolManager(
                    maxsize=16, block=False, ssl_context=ctx, cert_reqs=ctx.verify_mode
                )
            return pm

    def open(
        self,
        method: str,
        url: str,
        headers: "Iterable[tuple[str, str]]",
        tls: Tls,
        body=None,
        read_timeout: float = READ_TIMEOUT,
    ) -> urllib3.BaseHTTPResponse:
        hdrs = urllib3.HTTPHeaderDict()
        for k, v in headers:
            hdrs.add(k, v)
        try:
            return self.pool(tls).urlopen(
                method,
                url,
                headers=hdrs,
                body=body,
                redirect=False,
                retries=False,
                preload_content=False,
                decode_content=False,
                chunked=body is not None and "content-length" not in {k.lower() for k, _ in hdrs.items()},
                timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=read_timeout),
            )
        except (urllib3.exceptions.HTTPError, OSError, ssl.SSLError) as e:
            known = explain(e, url)  # one line naming the cause (certificate, refused, DNS...)
            raise UpstreamError(f"{method} {url}: {known.line(DFDAEMON_TLS_FIX) if known else e}") from None

    def preflight(self, url: str, headers, tls: Tls) -> Preflight:
        """HEAD the layer with the requester's headers: its length, or the refusal to relay."""
        try:
            resp = self.open("HEAD", url, headers, tls, read_timeout=PREFLIGHT_TIMEOUT)
        except UpstreamError as e:
            log.info("preflight of %s failed: %s", url, e)
            return Preflight(None, None)
        resp.release_conn()
        length = resp.headers.get("Content-Length")
        ok = resp.status == 200 and length is not None and length.isdigit()
        return Preflight(resp.status, int(length) if ok else None)


def identity_only(headers: "list[tuple[str, str]]") -> "list[tuple[str, str]]":
    """The headers of a digest-checked request: the client's Accept-Encoding replaced by identity."""
    return [(k, v) for k, v in headers if k.lower() != "accept-encoding"] + [("Accept-Encoding", "identity")]


def encoded(resp) -> str:
    """The response's Content-Encoding unless it is absent or `identity` ("" then)."""
    value = (
        ", ".join(resp.headers.getlist("Content-Encoding"))
        if hasattr(resp.headers, "getlist")
        else resp.headers.get("Content-Encoding", "")
    )
    return "" if value.strip().lower() in ("", "identity") else value


def response_headers(resp) -> "list[tuple[str, str]]":
    return [(k, v) for k, v in resp.headers.items() if k.lower() not in HOP_BY_HOP | {"content-length"}]


def relay(reply: Reply, resp, digest: str = "") -> None:
    """Send an upstream response to the client as it is. With a `digest`, a complete 200 body is
    checked against it (the last byte held back until it matches)."""
    length = resp.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    checked = bool(digest) and resp.status == 200
    if checked and encoded(resp):
        log.error(
            "upstream answered %s with Content-Encoding %r: refusing what cannot be checked", digest, encoded(resp)
        )
        resp.close()  # never return a connection with an unread body to the pool
        resp.release_conn()
        reply.simple(
            502,
            f"upstream sent Content-Encoding {encoded(resp)!r} for {digest}: "
            f"its bytes cannot be checked against the digest\n".encode(),
        )
        raise DigestMismatch(f"Content-Encoding {encoded(resp)!r} for {digest}")
    gate = VerifiedSlice(digest if checked else "")
    reply.head(resp.status, response_headers(resp), length, resp.reason)
    try:
        if not reply.no_body:
            for chunk in resp.stream(CHUNK, decode_content=False):
                reply.write(gate.feed(chunk))
            reply.write(gate.finish())
        reply.end()
    except DigestMismatch as e:
        log.error("direct answer from %s: %s", resp.geturl() if hasattr(resp, "geturl") else "?", e)
        reply.abort()
        raise
    except (urllib3.exceptions.HTTPError, OSError) as e:
        log.warning("relay broken: %s", e)
        reply.abort()
    finally:
        resp.release_conn()
