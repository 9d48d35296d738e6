"""Fetch one piece from a peer, the supernode CDN or the source, and check it
(docs/architecture.md#a-pull-get-peertask).

Hot path (plain http, which is every peer and supernode): one keep-alive `http.client` connection
per source and worker thread; the body is read with `readinto` straight into one preallocated
buffer of the piece's length (1 MiB reads, one rate-limit grant per read), its md5 is taken over
that buffer, and the payload is handed out as a memoryview slice of it: no copies besides the
kernel's. Anything else (https sources, odd answers without a Content-Length) takes `requests`.

Cut-through (docs/decisions.md #25): given a `sink` (dfget/downloaders/writer.py PieceLanding), a
framed piece's payload is handed on after every read (the frame's 4 header bytes and 1 trailer
byte stripped), so it lands in the service file while the rest is still arriving; the md5 is
still taken over the whole buffer at the end. `readinto` waits until its slice is full, so the
slice is sized to about STREAM_STEP_SECONDS at the rate seen so far: that is the delay each host
of a chain adds (fixed 256 KiB slices cost 0.8 s per hop at a quarter of 10 Mbit/s, and a chain
of 8 hosts took 6 s to deliver a 1 MiB piece in the lab), while a fast link still reads 1 MiB at
a time.
"""

import hashlib
import http.client
import threading
from urllib.parse import urlsplit

from common.errors import FramingError
from common.pieces import HEAD_SIZE, META_SIZE, parse_range, unframe
from common.protocol.codes import ClientErrorType
from common.protocol.messages import PieceTask
from dfget.core.sources import PieceRequest, piece_request
from dfget.core.timing import piece_timeout
from dfget.errors import PieceFailure

CHUNK = 64 * 1024
READ_STEP = 1 << 20  # bytes per readinto (and per rate-limit grant)
STREAM_STEP_SECONDS = 0.02  # ... while a piece is also handed on as it arrives (one write each)
STREAM_STEP_MIN = 16 * 1024
CONNECT_TIMEOUT = 2.0
ERROR_BODY_LIMIT = 64 * 1024
SPARE_BUFFERS = 4  # piece buffers given back by the output md5, kept for reuse


def stream_step(received: int, seconds: float) -> int:
    """The next read's size while a piece is handed on: about STREAM_STEP_SECONDS of the rate seen
    so far, within [STREAM_STEP_MIN, READ_STEP]."""
    if seconds <= 0:
        return READ_STEP
    return int(min(max(received / seconds * STREAM_STEP_SECONDS, STREAM_STEP_MIN), READ_STEP))


class _Retry(Exception):
    """A reused keep-alive connection turned out to be closed by the server: try a fresh one."""


class PieceFetcher:
    """`fetch(task, ...)` -> (offset, payload) or PieceFailure (with what to report, if anything).

    The payload is a memoryview over this thread's piece buffer: valid until the same thread
    fetches again, unless the caller takes it over with `give_away(payload)` (this thread then
    fetches into another buffer) and hands it back with `recycle(payload)` when done with it."""

    def __init__(self, session, limiter, version: str, min_rate: int, cancelled: threading.Event, clock):
        self._session = session  # requests.Session for the non-http fallback (created lazily if None)
        self.limiter = limiter
        self.version = version
        self.min_rate = min_rate
        self.cancelled = cancelled
        self.clock = clock
        self._local = threading.local()
        self._spare: list[bytearray] = []  # buffers given back, for the next fetch of any thread
        self._spare_lock = threading.Lock()

    def fetch(
        self, task: PieceTask, cdn_source: str, file_length: int, user_headers: "dict[str, str]", sink=None
    ) -> "tuple[int, memoryview]":
        """`sink`: hand a framed piece's payload on as it arrives (`start(offset, length)` ->
        bool, then `chunk(start, data)` in order); raw pieces are only ever handed out whole."""
        req = piece_request(task, cdn_source, self.version, file_length=file_length, user_headers=user_headers)
        if sink is not None and req.framed:
            expected = sink.expected_length(req.offset)
            if expected:  # known before the answer: a peer asking us for this piece already waits for it
                sink.start(req.offset, expected)
        else:
            sink = None
        body = self._download(req, piece_timeout(task.piece_size, self.min_rate), sink)
        expected = task.piece_md5.split(":", 1)[0]
        real = hashlib.md5(body).hexdigest() if expected or req.framed else ""
        if expected and real != expected:
            raise PieceFailure(
                f"piece range:{task.range} md5 not match, expected:{expected} real:{real}",
                ClientErrorType.FILE_MD5_NOT_MATCH.value,
                real,
                expected,
            )
        if not req.framed:
            start, end = parse_range(req.headers["Range"].partition("=")[2])
            if len(body) != end - start + 1:
                raise PieceFailure(f"{req.url}: got {len(body)} bytes for range {start}-{end}")
            return req.offset, body if isinstance(body, memoryview) else memoryview(body)
        try:
            return req.offset, unframe(body, task.piece_size)
        except FramingError as e:
            raise PieceFailure(
                f"piece range:{task.range} is corrupt: {e}", ClientErrorType.FILE_MD5_NOT_MATCH.value, real, expected
            ) from None

    def close(self) -> None:
        """Close this thread's keep-alive connections (others close when their thread ends)."""
        for conn in getattr(self._local, "conns", {}).values():
            conn.close()
        self._local.conns = {}

    # -- plain http: keep-alive http.client, readinto a preallocated buffer -------------------

    def _download(self, req: PieceRequest, timeout: float, sink=None) -> "memoryview | bytearray":
        parts = urlsplit(req.url)
        if parts.scheme != "http" or not parts.hostname:
            return self._download_requests(req, timeout)
        deadline = self.clock.monotonic() + timeout
        key = (parts.hostname, parts.port or 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for _ in range(2):
            conn, reused = self._conn(key)
            try:
                return self._get(conn, reused, req, path, deadline, timeout, sink)
            except _Retry:
                self._drop(key)
                continue
            except PieceFailure:
                self._drop(key)
                raise
            except (OSError, http.client.HTTPException) as e:
                self._drop(key)
                if self.clock.monotonic() > deadline:
                    raise PieceFailure(f"{req.url}: piece timed out after {timeout:.0f}s") from None
                raise PieceFailure(f"{req.url}: {e or type(e).__name__}") from None
        raise PieceFailure(f"{req.url}: the connection was closed twice")

    def _conn(self, key) -> "tuple[http.client.HTTPConnection, bool]":
        conns = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        conn = conns.get(key)
        if conn is not None and conn.sock is not None:
            return conn, True
        conn = http.client.HTTPConnection(key[0], key[1], timeout=CONNECT_TIMEOUT)
        conns[key] = conn
        return conn, False

    def _drop(self, key) -> None:
        conn = getattr(self._local, "conns", {}).pop(key, None)
        if conn is not None:
            conn.close()

    def _get(
        self,
        conn: http.client.HTTPConnection,
        reused: bool,
        req: PieceRequest,
        path: str,
        deadline: float,
        timeout: float,
        sink=None,
    ) -> memoryview:
        try:
            if conn.sock is None:
                conn.connect()
            conn.sock.settimeout(max(min(timeout, deadline - self.clock.monotonic()), 0.05))
            conn.putrequest(
                "GET", path, skip_host=any(k.lower() == "host" for k in req.headers), skip_accept_encoding=True
            )
            for k, v in req.headers.items():
                conn.putheader(k, v)
            conn.endheaders()
            resp = conn.getresponse()
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            if reused:
                raise _Retry() from None
            raise
        status = resp.status
        if status == 404:
            resp.read(ERROR_BODY_LIMIT)
            raise PieceFailure(f"{req.url}: not found", ClientErrorType.FILE_NOT_EXIST.value)
        if not 200 <= status < 300:
            resp.read(ERROR_BODY_LIMIT)
            raise PieceFailure(f"{req.url}: HTTP {status} for {req.headers.get('Range')}")
        length = resp.length
        if length is None:  # chunked or close-delimited: rare, not worth a fast path
            return self._read_unsized(resp, req, deadline, timeout)
        view = self._buffer(length)
        payload_end = length - META_SIZE  # payload bytes, when streamed
        if sink is not None and not sink.start(req.offset, payload_end):
            sink = None  # an answer of the wrong length: it fails its check at the end
        step = READ_STEP if sink is None else STREAM_STEP_MIN
        pos = handed = 0  # bytes read; payload bytes handed to the sink
        take, now = self.limiter.take, self.clock.monotonic
        began = now()
        while pos < length:
            if self.cancelled.is_set():
                raise PieceFailure("download cancelled")
            n = resp.readinto(view[pos : pos + step])
            if not n:
                raise PieceFailure(f"{req.url}: connection closed after {pos} of {length} bytes")
            take(n)
            pos += n
            if sink is not None:
                ready = min(max(pos - HEAD_SIZE, 0), payload_end)
                if ready > handed:
                    sink.chunk(handed, view[HEAD_SIZE + handed : HEAD_SIZE + ready])
                    handed = ready
                step = stream_step(pos, now() - began)
            if now() > deadline:
                raise PieceFailure(f"{req.url}: piece timed out after {timeout:.0f}s")
        return view

    def _buffer(self, length: int) -> memoryview:
        """This thread's piece buffer, `length` bytes of it. Reused from piece to piece: a fresh
        15 MiB bytearray per piece costs ~3,800 page faults (and zeroing) each time. The payload
        handed out is only valid until this thread's next fetch, unless it was given away (the
        output md5 may keep it for a while, dfget/downloaders/writer.py): then a spare buffer
        comes back into use, or a new one."""
        buf = getattr(self._local, "buf", None)
        if buf is None or len(buf) < length:
            buf = self._local.buf = self._spare_buffer(length) or bytearray(length)
        return memoryview(buf)[:length]

    def _spare_buffer(self, length: int) -> "bytearray | None":
        with self._spare_lock:
            for i, buf in enumerate(self._spare):
                if len(buf) >= length:
                    return self._spare.pop(i)
        return None

    def give_away(self, payload) -> None:
        """The caller keeps `payload` beyond this thread's next fetch: the thread stops using the
        buffer under it. Call it on the thread that fetched the payload."""
        if getattr(payload, "obj", payload) is getattr(self._local, "buf", None):
            self._local.buf = None

    def recycle(self, payload) -> None:
        """A payload given away is no longer needed: its buffer may serve another fetch (any
        thread may call this). At most SPARE_BUFFERS are kept; the rest go to the collector."""
        buf = getattr(payload, "obj", payload)
        if not isinstance(buf, bytearray):
            return
        with self._spare_lock:
            if len(self._spare) < SPARE_BUFFERS:
                self._spare.append(buf)

    def _read_unsized(self, resp, req: PieceRequest, deadline: float, timeout: float) -> bytearray:
        buf = bytearray()
        while True:
            if self.cancelled.is_set():
                raise PieceFailure("download cancelled")
            chunk = resp.read1(READ_STEP) if hasattr(resp, "read1") else resp.read(READ_STEP)
            if not chunk:
                return buf
            self.limiter.take(len(chunk))
            buf += chunk
            if self.clock.monotonic() > deadline:
                raise PieceFailure(f"{req.url}: piece timed out after {timeout:.0f}s")

    # -- anything else (https sources): requests ---------------------------------------------

    def _requests_session(self):
        if self._session is None:
            import requests

            s = requests.Session()
            s.trust_env = False
            self._session = s
        return self._session

    def _download_requests(self, req: PieceRequest, timeout: float) -> bytearray:
        import requests

        deadline = self.clock.monotonic() + timeout
        try:
            with self._requests_session().get(
                req.url, headers=req.headers, stream=True, timeout=(CONNECT_TIMEOUT, timeout)
            ) as resp:
                if resp.status_code == 404:
                    raise PieceFailure(f"{req.url}: not found", ClientErrorType.FILE_NOT_EXIST.value)
                if not 200 <= resp.status_code < 300:
                    raise PieceFailure(f"{req.url}: HTTP {resp.status_code} for {req.headers.get('Range')}")
                buf = bytearray()
                for chunk in resp.iter_content(READ_STEP):
                    if self.cancelled.is_set():
                        raise PieceFailure("download cancelled")
                    self.limiter.take(len(chunk))
                    buf += chunk
                    if self.clock.monotonic() > deadline:
                        raise PieceFailure(f"{req.url}: piece timed out after {timeout:.0f}s")
                return buf
        except requests.RequestException as e:
            raise PieceFailure(f"{req.url}: {e}") from None
