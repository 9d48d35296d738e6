"""The console page (docs/operations.md#console): one static HTML document assembled at import
from assets/ (HTML, CSS and small plain-JS files, no build step, nothing fetched from elsewhere, so
it works offline). It polls /api/v1/console/snapshot every 2 seconds.

Everything a client chose (URLs, names, ids) is inserted with textContent, never as markup; the
Content-Security-Policy allows only this page's own script (by hash) and its own origin, so even
an escaping mistake could not run injected code.
"""

import base64
import hashlib
from importlib import resources

SCRIPTS = ("util.js", "graph.js", "chart.js", "tables.js", "main.js")


def _asset(name: str) -> str:
    return resources.files("supernode.console").joinpath("assets", name).read_text(encoding="utf-8")


SCRIPT = "\n" + "\n".join(_asset(name) for name in SCRIPTS)
STYLE = "\n" + _asset("console.css")
HTML = _asset("console.html").replace("\n/*STYLE*/\n", STYLE).replace("\n/*SCRIPT*/\n", SCRIPT)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; script-src {_sha256(SCRIPT)}; style-src {_sha256(STYLE)}; "
    "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
