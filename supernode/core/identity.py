"""Who may speak for a client download (issue 11 item 6): nobody acts as another client.

Theory of operation. A client download (cid@taskId) is created by a registration. The shell
mints a random key for it, the registration answer carries it (`clientKey`, an extra field a v1
dfget ignores), and the core remembers it with the connection's source address. Every later
report about that download - pull, piece success, piece error, service down, and a
re-registration of the same cid - names a Caller: the source address the shell saw and the key
the request carried (our dfget and its upload server send it; a v1 client cannot).

  * a request with a key is the client's when the key is the download's key;
  * a request without one is the client's when it comes from the address that registered
    (a download registered in-process, by the preheater, has none: only the supernode speaks
    for it), unless the client has already proved itself with its key once (our dfget does on its first
    pull): from then on only the key counts, so another user on the same host cannot forge it.

Residual risk (v1 clients): anyone who can send from a v1 client's own address can speak for it.
The cid is not a credential: it is printed and logged in many places, so knowing it grants nothing.
"""

import hashlib
import hmac
from dataclasses import dataclass

MAX_KEY_LENGTH = 128


@dataclass(frozen=True)
class Caller:
    addr: str  # the connection's source address, as the shell saw it
    key: str = ""  # the client key the request carried ("" for a v1 client)


def admits(key: str, registered_from: str, keyed: bool, caller: Caller) -> bool:
    """May `caller` act for the download with this key, registration address and keyed flag?"""
    if caller.key:
        return (
            bool(key)
            and len(caller.key) <= MAX_KEY_LENGTH
            and hmac.compare_digest(caller.key.encode("utf-8", "replace"), key.encode("utf-8", "replace"))
        )
    return not keyed and bool(registered_from) and caller.addr == registered_from


def console_label(key: str, cid: str) -> str:
    """A stable name for a client in the console that reveals neither its cid nor its key."""
    return "client-" + hashlib.sha256(f"console\n{key}\n{cid}".encode("utf-8", "replace")).hexdigest()[:10]
