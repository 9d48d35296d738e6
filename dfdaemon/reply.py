"""Writing one HTTP response on a handler's connection: known length, chunked, or aborted.

`abort()` is how a broken transfer is made visible: the connection is closed before the body is
complete (short Content-Length body, or no final chunk), so the client can never mistake what
it got for the whole resource.
"""

import socket

NO_BODY_STATUSES = (204, 304)


class Reply:
    def __init__(self, handler):
        self.h = handler
        self.started = False
        self.chunked = False
        self.no_body = handler.command == "HEAD"
        self.sent = 0

    def head(self, status: int, headers: "list[tuple[str, str]]", length: "int | None", reason: str = None) -> None:
        h = self.h
        self.started = True
        if status in NO_BODY_STATUSES or status < 200:
            self.no_body = True
        h.send_response(status, reason)
        for k, v in headers:
            h.send_header(k, v)
        if length is not None:
            h.send_header("Content-Length", str(length))
        elif not self.no_body:
            if h.request_version == "HTTP/1.1":
                self.chunked = True
                h.send_header("Transfer-Encoding", "chunked")
            else:
                h.close_connection = True
                h.send_header("Connection", "close")
        h.end_headers()

    def write(self, data: bytes) -> None:
        if not data or self.no_body:
            return
        if self.chunked:
            self.h.wfile.write(b"%x\r\n%b\r\n" % (len(data), data))
        else:
            self.h.wfile.write(data)
        self.sent += len(data)

    def end(self) -> None:
        if self.chunked and not self.no_body:
            self.h.wfile.write(b"0\r\n\r\n")
        self.h.wfile.flush()

    def simple(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        extra: "list[tuple[str, str]]" = (),
    ) -> None:
        self.head(status, [("Content-Type", content_type), *extra], len(body))
        self.write(body)
        self.end()

    def abort(self) -> None:
        h = self.h
        h.close_connection = True
        try:
            h.wfile.flush()
        except OSError:
            pass
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
