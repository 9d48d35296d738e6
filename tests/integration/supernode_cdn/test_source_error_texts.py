"""A source that cannot be reached: the error text the supernode logs and keeps shows no userinfo,
no query value and no header value (issue 11 item 2)."""

import socket

from common.source_access import Headers, SourceAccess
from supernode.cdn.source import SourceClient


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_transport_errors_name_the_url_without_its_secrets(tmp_path):
    client = SourceClient(str(tmp_path), probe_timeout=2, read_timeout=2)
    request = SourceAccess(
        url=f"http://alice:pw-secret@127.0.0.1:{closed_port()}/f?token=qs-secret&x=1",
        headers=Headers({"X-JFrog-Art-Api": "header-secret"}),
    )
    try:
        texts = [client.probe(request).error, client.open(request).error]
    finally:
        client.close()
    assert all(text.split(" ", 1)[1].startswith("http://127.0.0.1:") for text in texts), texts
    for text in texts:
        assert "pw-secret" not in text and "qs-secret" not in text and "header-secret" not in text
