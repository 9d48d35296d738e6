"""requests sessions per TLS setting, and the root-CA files they need (leak-free).

Every registration may bring its own rootCAs (base64 PEM, v1's field), so the pool keeps at most
MAX_SESSIONS sessions, least recently used closed first (a response in flight keeps its own
connection). The PEM file of a request's root CAs lives only while that request connects: urllib3
reads it when it opens a connection, never afterwards. Files left by a crash are removed at start.
"""

import base64
import binascii
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import contextmanager

import requests

from common.source_access import Tls

log = logging.getLogger(__name__)
MAX_SESSIONS = 16


class SessionPool:
    def __init__(self, ca_dir: str, factory: "Callable[[], requests.Session]"):
        self._ca_dir, self._factory = ca_dir, factory
        self._sessions: OrderedDict[Tls, requests.Session] = OrderedDict()
        self._lock = threading.Lock()
        self._remove_stale_ca_files()

    def session(self, tls: Tls) -> requests.Session:
        with self._lock:
            session = self._sessions.pop(tls, None)
            if session is None:
                session = self._factory()
            self._sessions[tls] = session
            while len(self._sessions) > MAX_SESSIONS:  # an in-flight response keeps its own connection
                self._sessions.popitem(last=False)[1].close()
            return session

    @contextmanager
    def trust(self, tls: Tls):
        """The `verify` value of one request: a PEM file of the root CAs while the request connects."""
        if tls.insecure or not tls.root_cas:
            yield not tls.insecure
            return
        pems = []
        for item in tls.root_cas:
            try:
                pems.append(base64.b64decode(item, validate=False).decode("ascii").strip())
            except (binascii.Error, UnicodeDecodeError):
                log.warning("ignoring a root CA that is not base64 PEM")
        os.makedirs(self._ca_dir, exist_ok=True)
        fd, path = tempfile.mkstemp(dir=self._ca_dir, prefix="ca-", suffix=".pem")
        try:
            with os.fdopen(fd, "w") as f:
                f.write("\n".join(pems) + "\n")
            yield path
        finally:
            _remove_quietly(path)

    def _remove_stale_ca_files(self) -> None:
        try:
            names = os.listdir(self._ca_dir)
        except OSError:
            return
        for name in names:
            if name.startswith("ca-") and name.endswith((".pem", ".tmp")):
                _remove_quietly(os.path.join(self._ca_dir, name))

    def ca_files(self) -> "list[str]":
        try:
            return sorted(n for n in os.listdir(self._ca_dir) if n.startswith("ca-"))
        except OSError:
            return []

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def close(self) -> None:
        with self._lock:
            for session in self._sessions.values():
                session.close()
            self._sessions.clear()


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
