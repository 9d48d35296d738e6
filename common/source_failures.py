"""Why a source could not be reached, in one line a user can act on (docs/errors.md).

dfget (its back-to-source download) and the supernode (its probe and CDN build) both fetch sources
with `requests`, whose errors print as pages of urllib3 text ("HTTPSConnectionPool(...): Max
retries exceeded ... Caused by SSLError(SSLCertVerificationError(...))"). `explain` walks such an
exception's chain down to the OS/TLS error that started it and names the cause: certificate not
trusted, TLS failure, connection refused, host name unknown, timeout, connection reset. It only
reads exception types by name, so it stays pure (no ssl/socket import).

A *definite* failure is one that asking again a moment later would not change (a certificate, a
closed port, an unknown name): the supernode then refuses the registration at once instead of
retrying the source, and its answer names the cause (supernode/core/registration.py).
"""

from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

_MAX_DEPTH = 12  # exception chains are short; a cycle or a pathological chain must not loop


class Cause(str, Enum):
    TLS_UNTRUSTED = "tls-untrusted"  # certificate verification failed (issuer, expiry...)
    TLS_WRONG_NAME = "tls-wrong-name"  # a valid certificate for another host name or address
    TLS = "tls"  # any other TLS failure (not HTTPS, protocol mismatch)
    REFUSED = "refused"
    DNS = "dns"
    TIMEOUT = "timeout"
    RESET = "reset"


DEFINITE = frozenset({Cause.TLS_UNTRUSTED, Cause.TLS_WRONG_NAME, Cause.TLS, Cause.REFUSED, Cause.DNS})


@dataclass(frozen=True)
class TlsFix:
    """How to trust a certificate, or to skip the check, said to whoever can act on it."""

    trust: str
    skip: str


# The supernode's messages reach dfget users too: the CA they pass with --cacerts goes along as rootCAs.
DFGET_TLS_FIX = TlsFix("give dfget the CA that signed it with --cacerts FILE", "--insecure")
DFDAEMON_TLS_FIX = TlsFix(
    "add the CA that signed it to dfdaemon's registry_mirror.certs (or the hijack_https host's certs)",
    "registry_mirror.insecure (or the host's insecure)",
)

# (class name anywhere in the MRO, cause), most specific first
_BY_CLASS = (
    ("SSLCertVerificationError", Cause.TLS_UNTRUSTED),
    ("CertificateError", Cause.TLS_UNTRUSTED),
    ("SSLError", Cause.TLS),
    ("ConnectionRefusedError", Cause.REFUSED),
    ("gaierror", Cause.DNS),
    ("NameResolutionError", Cause.DNS),
    ("ConnectionResetError", Cause.RESET),
    ("ConnectionAbortedError", Cause.RESET),
    ("RemoteDisconnected", Cause.RESET),
    ("ProtocolError", Cause.RESET),
    ("TimeoutError", Cause.TIMEOUT),
    ("ConnectTimeoutError", Cause.TIMEOUT),
    ("ReadTimeoutError", Cause.TIMEOUT),
    ("Timeout", Cause.TIMEOUT),
)


@dataclass(frozen=True)
class Unreachable:
    """A source that could not be reached: `cause`, where (`host:port`) and the library's own
    short reason (e.g. "unable to get local issuer certificate")."""

    cause: Cause
    where: str
    detail: str = ""

    @property
    def definite(self) -> bool:
        return self.cause in DEFINITE

    def line(self, tls_fix: TlsFix = DFGET_TLS_FIX) -> str:
        """One sentence: what happened, where, and what to do about it."""
        why = f" ({self.detail})" if self.detail else ""
        if self.cause is Cause.TLS_UNTRUSTED:
            return (
                f"the TLS certificate of {self.where} is not trusted{why}: {tls_fix.trust}, or skip "
                f"verification with {tls_fix.skip}"
            )
        if self.cause is Cause.TLS_WRONG_NAME:
            return (
                f"the TLS certificate of {self.where} is for another name{why}: use a URL with a name it "
                f"lists, or skip verification with {tls_fix.skip}"
            )
        if self.cause is Cause.TLS:
            return f"TLS with {self.where} failed{why}: is it an HTTPS server on that port?"
        if self.cause is Cause.REFUSED:
            return f"{self.where} refused the connection: is the server running, and is the port right?"
        if self.cause is Cause.DNS:
            return f"the host name of {self.where} cannot be resolved{why}"
        if self.cause is Cause.TIMEOUT:
            return f"{self.where} did not answer in time"
        return f"{self.where} closed the connection{why}"


def where(url: str) -> str:
    """`host:port` of a URL (the scheme's default port when none is given)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the source"
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port or (443 if parts.scheme == 'https' else 80)}"


def explain(error: BaseException, url: str) -> "Unreachable | None":
    """The cause of a failed connection to `url`, or None when the chain names no known one."""
    for link in _chain(error):
        names = {cls.__name__ for cls in type(link).__mro__}
        for name, cause in _BY_CLASS:
            if name in names:
                detail = _detail(link, cause)
                if cause is Cause.TLS_UNTRUSTED and "mismatch" in detail:  # "Hostname mismatch, ..."
                    cause = Cause.TLS_WRONG_NAME
                return Unreachable(cause, where(url), detail)
    return None


def _chain(error: BaseException) -> list[BaseException]:
    """The exception and what it wraps (`reason`, exceptions in `args`, cause, context), deepest
    first: the OS or TLS error at the bottom says more than the wrappers above it."""
    order: list[BaseException] = []
    seen: set[int] = set()
    frontier: list[object] = [error]
    for _ in range(_MAX_DEPTH):
        nxt: list[object] = []
        for e in frontier:
            if not isinstance(e, BaseException) or id(e) in seen:
                continue
            seen.add(id(e))
            order.append(e)
            nxt.append(getattr(e, "reason", None))
            nxt.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
            nxt.extend((e.__cause__, e.__context__))
        if not nxt:
            break
        frontier = nxt
    return list(reversed(order))


def _detail(link: BaseException, cause: Cause) -> str:
    if cause is Cause.TLS_UNTRUSTED:
        return str(getattr(link, "verify_message", "") or "").rstrip(".")
    if cause in (Cause.TLS, Cause.DNS):
        text = getattr(link, "strerror", None) or getattr(link, "reason", None) or str(link)
        text = str(text)
        if text.startswith("[") and "] " in text:  # "[SSL: WRONG_VERSION_NUMBER] wrong version number (...)"
            text = text.split("] ", 1)[1]
        return text.split(" (_ssl.c")[0].strip()
    return ""
