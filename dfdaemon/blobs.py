"""Serving one layer GET through dfget, streamed, range-aware, checked
(docs/architecture.md#dfdaemon-the-path-of-one-blob, docs/decisions.md #8, #9).

Steps for a request routed to dfget:
1. Join the Download of (URL, credentials) if one exists (docker's Range retries land here: no
   new task). A FAILED one sends the request straight to the source.
2. Otherwise HEAD the source with the requester's own headers. A refusal (401/403: no or bad
   credentials; 404/410: no such layer) is the source's answer to give: the request is relayed
   directly and no dfget runs. So is a blob smaller than `directBelow` (rules.small_blob).
   A 200 tells the layer's length (-> Content-Length); anything
   else leaves it unknown (-> chunked). Then dfget starts with every request header but Host (Authorization included,
   so the supernode can check this requester's credentials against the source).
3. Wait for the first bytes, then send the head (200, or 206 with Content-Range once the length
   is known) and stream the contiguous prefix as it grows, through a VerifiedSlice: the last
   byte leaves only once the whole layer matched the digest in the URL; a mismatch aborts.
4. dfget failed before the first byte: relay the request directly (v1.0.6's fallback). Failed
   or stalled mid-stream: continue from the current offset with a direct `Range` GET carrying
   the requester's own headers.
"""

import hashlib
import logging
import time

import urllib3

from dfdaemon.core import rules
from dfdaemon.core.byterange import content_range, parse_range, unsatisfiable
from dfdaemon.core.verify import DigestMismatch, VerifiedSlice
from dfdaemon.downloads import DONE, FAILED
from dfdaemon.upstream import CHUNK, Tls, UpstreamError, encoded, identity_only, relay

log = logging.getLogger(__name__)
FIRST_BYTE_TIMEOUT = 600.0
REFUSALS = frozenset({401, 403, 404, 407, 410})  # the source's answer to this requester: relay it
STALL_TIMEOUT = 120.0


class LayerServer:
    def __init__(
        self,
        downloads,
        upstream,
        metrics,
        call: rules.DfgetCall,
        mirror,
        hijack_hosts,
        tags=None,
        direct_below: int = 0,
    ):
        """`tags`: a dfdaemon.image_tags.RecentTags naming the image of each layer (None: unnamed);
        `direct_below`: blobs smaller than this many bytes go straight to the registry."""
        self.direct_below = direct_below
        self.downloads, self.upstream, self.metrics = downloads, upstream, metrics
        self.call, self.mirror, self.hijack_hosts, self.tags = call, mirror, hijack_hosts, tags

    def serve(self, reply, route: rules.Route, headers: "list[tuple[str, str]]", tls: Tls) -> None:
        started = time.monotonic()
        auth = "\n".join(v for k, v in headers if k.lower() == "authorization")
        key = (route.url, hashlib.sha256(auth.encode()).hexdigest())
        fwd = rules.forward_headers(headers)
        dl = self.downloads.find(key)
        if dl is None:
            pre = self.upstream.preflight(route.url, rules.forward_headers(headers, frozenset({"range"})), tls)
            if pre.status in REFUSALS:
                log.info("url=%s source answered HEAD with %d: relaying directly", route.url, pre.status)
                return self._direct(reply, route, fwd, tls, "direct")
            if rules.small_blob(pre.length, self.direct_below):
                return self._direct(reply, route, fwd, tls, "small")
            try:
                dl, new = self.downloads.start(key, route.url, pre.length, self._argv_for(route, headers))
            except OSError as e:
                log.error("url=%s cannot run dfget: %s", route.url, e)
                self.metrics.fallbacks.labels("before_first_byte").inc()
                return self._direct(reply, route, fwd, tls, "direct")
            if new:  # one INFO line per layer (request lines are DEBUG: --verbose)
                log.info("url=%s layer handed to dfget (P2P)", route.url)
                self.metrics.dfget_started.inc()
        elif dl.state == FAILED:
            return self._direct(reply, route, fwd, tls, "direct")
        dl.attach()
        try:
            self._stream(reply, dl, route, headers, fwd, tls, started)
        finally:
            dl.detach()

    def _argv_for(self, route, headers):
        insecure, cacerts = rules.tls_options(route.url, self.mirror, self.hijack_hosts)
        lines = rules.dfget_headers(headers)
        name = self.tags.display_name(route.url) if self.tags is not None else ""
        return lambda output: rules.dfget_argv(self.call, route.url, output, lines, insecure, cacerts, name)

    def _direct(self, reply, route, fwd, tls, via: str) -> None:
        self.metrics.layers.labels(via).inc()
        try:
            resp = self.upstream.open("GET", route.url, identity_only(fwd) if route.digest else fwd, tls)
        except UpstreamError as e:
            self.metrics.upstream_errors.inc()
            return reply.simple(503, f"{e}\n".encode())
        try:
            relay(reply, resp, route.digest)
        except DigestMismatch:
            self.metrics.digest_mismatch.inc()

    def _stream(self, reply, dl, route, headers, fwd, tls, started) -> None:
        wanted = parse_range(next((v for k, v in headers if k.lower() == "range"), None))

        def ready(s):
            if wanted is not None:
                return s.length is not None and (s.available > 0 or s.state == DONE)
            return s.available > 0

        snap = dl.wait(ready, FIRST_BYTE_TIMEOUT)
        if snap.state == FAILED or not (ready(snap) or snap.state == DONE):
            log.warning("url=%s dfget gave no bytes (%s): fetching directly", route.url, snap.error or "timeout")
            self.metrics.fallbacks.labels("before_first_byte").inc()
            return self._direct(reply, route, fwd, tls, "direct")
        length = snap.length
        extra = [("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes")]
        if route.digest:
            extra.append(("Docker-Content-Digest", route.digest))
        if wanted is not None:
            span = wanted.resolve(length)
            if span is None:
                return reply.simple(416, b"range not satisfiable\n", extra=[("Content-Range", unsatisfiable(length))])
            first, last = span
            gate = VerifiedSlice(route.digest, first, last)
            reply.head(206, extra + [("Content-Range", content_range(first, last, length))], last - first + 1)
            self.metrics.layers.labels("range").inc()
        else:
            gate = VerifiedSlice(route.digest, 0, None)
            reply.head(200, extra, length)
            self.metrics.layers.labels("dfget").inc()
        self.metrics.first_byte.observe(time.monotonic() - started)
        try:
            self._pump(reply, dl, gate, route, fwd, tls)
        except DigestMismatch as e:
            self.metrics.digest_mismatch.inc()
            log.error("url=%s %s: aborting the response", route.url, e)
            reply.abort()
        except (OSError, urllib3.exceptions.HTTPError) as e:
            log.info("url=%s transfer broken: %s", route.url, e)
            reply.abort()

    def _pump(self, reply, dl, gate: VerifiedSlice, route, fwd, tls) -> None:
        pos = 0
        while True:
            snap = dl.wait(lambda s, pos=pos: s.available > pos, STALL_TIMEOUT)
            if snap.available > pos:
                chunk = dl.read(pos, min(CHUNK, snap.available - pos))
                if not chunk:
                    raise DigestMismatch(f"{dl.output} shrank below {pos} bytes")
                pos += len(chunk)
                self._send(reply, gate.feed(chunk), "dfget")
                if gate.done_with_slice() and not gate.checking:
                    break
            elif snap.state == DONE:
                break
            else:
                why = snap.error or f"no progress for {STALL_TIMEOUT:.0f}s"
                log.warning("url=%s dfget failed at byte %d (%s): continuing from the source", route.url, pos, why)
                self.metrics.fallbacks.labels("mid_stream").inc()
                self._continue_direct(reply, gate, route, fwd, tls, pos)
                return
        self._send(reply, gate.finish(), "dfget")
        reply.end()

    def _continue_direct(self, reply, gate, route, fwd, tls, pos: int) -> None:
        try:
            resp = self.upstream.open("GET", route.url, [*identity_only(fwd), ("Range", f"bytes={pos}-")], tls)
        except UpstreamError as e:
            log.error("url=%s direct continuation failed: %s", route.url, e)
            return reply.abort()
        try:
            if resp.status not in (200, 206) or encoded(resp):
                log.error("url=%s direct continuation answered %d %s", route.url, resp.status, encoded(resp))
                return reply.abort()
            skip = pos if resp.status == 200 else 0
            for chunk in resp.stream(CHUNK, decode_content=False):
                if skip:
                    chunk, skip = chunk[skip:], max(0, skip - len(chunk))
                self._send(reply, gate.feed(chunk), "direct")
                if gate.done_with_slice() and not gate.checking:
                    break
            self._send(reply, gate.finish(), "direct")
            reply.end()
        finally:
            resp.release_conn()

    def _send(self, reply, data: bytes, via: str) -> None:
        if data:
            reply.write(data)
            self.metrics.bytes_served.labels(via).inc(len(data))
