"""Who may see the console (docs/operations.md#console).

Without an apiToken the console is open, as the rest of the read-only API. With one, the page
and its snapshot need it, presented either as `Authorization: Bearer <token>` (scripts, like the
management API) or as the password of HTTP Basic authentication (any user name): a browser asks
for it when the page answers 401 with CHALLENGE, and then sends it with the page's own requests.
"""

import base64
import binascii
import hmac

CHALLENGE = 'Basic realm="dragonfly console", charset="UTF-8"'
MAX_HEADER = 4096


def presented_token(authorization: str) -> str:
    """The token an Authorization header carries ("" if none or malformed)."""
    if not authorization or len(authorization) > MAX_HEADER:
        return ""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    return ""


def allowed(token: str, authorization: str) -> bool:
    """May a request with this Authorization header see the console, given the configured token?"""
    if not token:
        return True
    given = presented_token(authorization)
    return bool(given) and hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))
