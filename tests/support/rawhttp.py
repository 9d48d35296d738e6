"""Raw bytes to a local server, for hostile-input tests that an HTTP client library would refuse
to send."""

import socket


def exchange(port: int, raw: bytes, timeout: float = 20) -> bytes:
    """Send `raw`, read the answer. A server may answer and close before it has read everything
    (e.g. 414 for a huge request line): what it sent is still the answer."""
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        try:
            c.sendall(raw)
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        try:
            while chunk := c.recv(65536):
                out += chunk
        except ConnectionResetError:
            pass
    return out
