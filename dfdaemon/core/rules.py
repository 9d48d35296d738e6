"""What dfdaemon does with a request (docs/architecture.md#dfdaemon-the-path-of-one-blob): the pure decisions, no I/O.

Theory of operation. Every request is classified once:

* absolute-URI (dfdaemon used as HTTP proxy): the first proxy rule whose regex *searches* the
  full URL string decides (v1's regexp.MatchString); for GET only, `use_https` rewrites the
  scheme, `redirect` replaces the host, and a matched rule that is not `direct` sends the GET
  through dfget. Unmatched requests and other methods go direct.
* origin-form (dfdaemon used as registry mirror): the path is joined to the mirror's remote;
  a GET whose path matches `^.+/blobs/sha256.*$` goes through dfget unless the mirror is
  `direct`. Containerd's `?ns=<registry>` query is dropped (it names the registry, which the
  remote already is; dropping it keeps one task per layer whoever asks).
* CONNECT host:port: decrypted ("hijacked") when the first hijack rule matching the host exists
  and a hijack certificate is configured; tunnelled otherwise.

Also here: the dfget command line, which request headers become `--header`s (all but Host,
hop-by-hop, Range and Accept-Encoding: a Range must never make a new task id), and the
repo cleaner's choice of stale files.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from common.errors import BadInput
from common.protocol.messages import HEADER_DISPLAY_NAME

LAYER_PATH = re.compile(r"^.+/blobs/sha256.*$")
DIGEST_IN_PATH = re.compile(r"/blobs/(sha256:[0-9a-f]{64})(?:$|[/?])")
MIRROR_QUERY_DROP = frozenset({"ns"})
HOP_BY_HOP = frozenset(
    {
        "connection",
        "proxy-connection",
        "keep-alive",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "proxy-authorization",
        "proxy-authenticate",
    }
)
NOT_FOR_DFGET = HOP_BY_HOP | {
    "host",
    "range",
    "accept-encoding",
    "content-length",
    "if-range",
    "if-none-match",
    "if-modified-since",
    HEADER_DISPLAY_NAME.lower(),
}
DFGET, DIRECT = "dfget", "direct"


@dataclass(frozen=True)
class ProxyRule:
    regx: str
    use_https: bool = False
    direct: bool = False
    redirect: str = ""

    def matches(self, url: str) -> bool:
        return re.search(self.regx, url) is not None


@dataclass(frozen=True)
class HijackHost:
    regx: str
    insecure: bool = False
    certs: "tuple[str, ...]" = ()

    def matches(self, host: str) -> bool:
        return re.search(self.regx, host) is not None


@dataclass(frozen=True)
class Mirror:
    remote: str
    insecure: bool = False
    certs: "tuple[str, ...]" = ()
    direct: bool = False


@dataclass(frozen=True)
class Route:
    """Where a request goes: `via` is DFGET or DIRECT; `url` the upstream URL."""

    via: str
    url: str
    digest: str = ""  # "sha256:<hex>" when the URL names a layer, else ""

    @property
    def dfget(self) -> bool:
        return self.via == DFGET


# ---- parsing the config's rule lists -----------------------------------------------------------


def _flag(item: dict[str, Any], key: str) -> bool:
    value = item.get(key, False)
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise BadInput(f"{key}: expected true or false, got {value!r}")


def _regex(item: dict[str, Any], what: str) -> str:
    regx = item.get("regx")
    if not isinstance(regx, str) or not regx:
        raise BadInput(f"every {what} needs a non-empty regx")
    try:
        re.compile(regx)
    except re.error as e:
        raise BadInput(f"invalid regx {regx!r}: {e}") from None
    return regx


def _items(value: Any, what: str) -> list[Any]:
    if value is None or value == "" or value == []:
        return []
    if not isinstance(value, (list, tuple)) or not all(isinstance(i, (dict, ProxyRule, HijackHost)) for i in value):
        raise BadInput(f"{what}: expected a list of mappings")
    return list(value)


def parse_proxy_rules(value: Any) -> "tuple[ProxyRule, ...]":
    rules: list[ProxyRule] = []
    for item in _items(value, "proxies"):
        if isinstance(item, ProxyRule):
            rules.append(item)
            continue
        rules.append(
            ProxyRule(
                _regex(item, "proxy rule"),
                _flag(item, "use_https"),
                _flag(item, "direct"),
                str(item.get("redirect") or ""),
            )
        )
    return tuple(rules)


def parse_hijack_hosts(value: Any) -> "tuple[HijackHost, ...]":
    hosts: list[HijackHost] = []
    for item in _items(value, "hijack_https.hosts"):
        if isinstance(item, HijackHost):
            hosts.append(item)
            continue
        certs = item.get("certs") or []
        if isinstance(certs, str):
            certs = [certs]
        hosts.append(HijackHost(_regex(item, "hijack host"), _flag(item, "insecure"), tuple(str(c) for c in certs)))
    return tuple(hosts)


def parse_connect_allow(value: Any) -> "tuple[str, ...]":
    """Regexes a CONNECT target `host:port` must match; every one is checked to compile."""
    patterns = value if isinstance(value, (list, tuple)) else ([] if value in (None, "") else [value])
    for p in patterns:
        try:
            re.compile(str(p))
        except re.error as e:
            raise BadInput(f"connect_allow: invalid regex {p!r}: {e}") from None
    return tuple(str(p) for p in patterns)


def connect_allowed(host: str, port: int, allow: "Iterable[str]", hijack: "Iterable[HijackHost]") -> bool:
    """An empty allow-list tunnels anywhere (v1); otherwise `host:port` must match a pattern, or
    the host a hijack rule (decrypting it is an explicit choice of the operator)."""
    allow = tuple(allow)
    if not allow:
        return True
    target = f"{host}:{port}"
    return any(re.search(p, target) for p in allow) or hijack_rule(host, hijack) is not None


def show_rules(rules: Iterable[ProxyRule | HijackHost]) -> list[dict[str, Any]]:
    out = []
    for r in rules:
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in r.__dict__.items()}
        out.append(d)
    return out


# ---- routing -----------------------------------------------------------------------------------


def layer_digest(url_or_path: str) -> str:
    m = DIGEST_IN_PATH.search(urlsplit(url_or_path).path + "/")
    return m.group(1) if m else ""


def route_proxy(method: str, url: str, rules: "Iterable[ProxyRule]") -> Route:
    """Absolute-URI requests (and hijacked HTTPS): first matching rule wins; unmatched -> direct."""
    if method != "GET":
        return Route(DIRECT, url)
    for rule in rules:
        if not rule.matches(url):
            continue
        parts = urlsplit(url)
        if rule.use_https:
            parts = parts._replace(scheme="https")
        if rule.redirect:
            parts = parts._replace(netloc=rule.redirect)
        new_url = urlunsplit(parts)
        return Route(DIRECT if rule.direct else DFGET, new_url, layer_digest(new_url))
    return Route(DIRECT, url)


def _drop_query(query: str, keys: frozenset[str]) -> str:
    return "&".join(p for p in query.split("&") if p and p.split("=", 1)[0] not in keys)


def mirror_url(remote: str, target: str) -> str:
    """Join an origin-form target (path?query) to the mirror's remote URL."""
    base = urlsplit(remote)
    path, _, query = target.partition("?")
    joined = base.path.rstrip("/") + "/" + path.lstrip("/")
    return urlunsplit((base.scheme, base.netloc, joined, _drop_query(query, MIRROR_QUERY_DROP), ""))


def route_mirror(method: str, target: str, mirror: Mirror) -> Route:
    url = mirror_url(mirror.remote, target)
    path = target.partition("?")[0]
    if method == "GET" and not mirror.direct and LAYER_PATH.match(path):
        return Route(DFGET, url, layer_digest(url))
    return Route(DIRECT, url, layer_digest(url))


def hijack_rule(host: str, rules: "Iterable[HijackHost]") -> HijackHost | None:
    """The first hijack rule for a CONNECT target (host without port)."""
    for rule in rules:
        if rule.matches(host):
            return rule
    return None


def tls_options(url: str, mirror: Mirror | None, hijack: "Iterable[HijackHost]") -> "tuple[bool, tuple[str, ...]]":
    """(insecure, cacerts) for a source URL: every hijack rule matching its host, plus the
    mirror, whose remote host is used as a regex (v1)."""
    host = urlsplit(url).hostname or ""
    insecure = False
    certs: list[str] = []
    candidates = list(hijack)
    if mirror is not None:
        mirror_host = urlsplit(mirror.remote).hostname or mirror.remote
        candidates.append(HijackHost(re.escape(mirror_host), mirror.insecure, mirror.certs))
    for rule in candidates:
        if rule.matches(host):
            insecure = insecure or rule.insecure
            certs += [c for c in rule.certs if c not in certs]
    return insecure, tuple(certs)


def small_blob(length: int | None, direct_below: int) -> bool:
    """A blob announced smaller than `direct_below` bytes goes straight to the registry: it fits in
    one piece, and a P2P download's fixed cost (registration, the CDN's first piece) is many times
    the transfer (BENCHMARKS.md, helper-daemon). Unknown length: through P2P."""
    return length is not None and 0 <= length < direct_below


# ---- headers and the dfget command line --------------------------------------------------------


def forward_headers(items: "Iterable[tuple[str, str]]", drop: "frozenset[str]" = frozenset()) -> list[tuple[str, str]]:
    """Request headers to send upstream, repeats kept in order (docker sends six Accept lines)."""
    skip = HOP_BY_HOP | {"host"} | drop
    return [(k, v) for k, v in items if k.lower() not in skip]


def dfget_headers(items: "Iterable[tuple[str, str]]") -> "list[str]":
    """Every request header except Host (and hop-by-hop, Range, Accept-Encoding) as 'K: V'.
    Authorization is kept: the source and the supernode need the requester's credentials."""
    return [f"{k}: {v}" for k, v in items if k.lower() not in NOT_FOR_DFGET and v != ""]


@dataclass(frozen=True)
class DfgetCall:
    dfpath: str  # an external dfget; "" = downloads run in-process (argv[0] is a name only)
    home: str
    ratelimit: str  # as dfget parses it, e.g. "20M"
    nodes: "tuple[str, ...]" = ()
    extra_flags: "tuple[str, ...]" = ()
    verbose: bool = False


def dfget_argv(
    call: DfgetCall,
    url: str,
    output: str,
    headers: "list[str]",
    insecure: bool = False,
    cacerts: "tuple[str, ...]" = (),
    display_name: str = "",
) -> "list[str]":
    """`display_name`: the image the layer belongs to, for the supernode's console (a header, so
    that v1's Go dfget passes it on as well)."""
    argv = [call.dfpath or "dfget", "-u", url, "-o", output, *call.extra_flags, "--dfdaemon"]
    if call.verbose:
        argv.append("--verbose")
    argv += ["-s", call.ratelimit, "--totallimit", call.ratelimit, "--home", call.home]
    if call.nodes:
        argv += ["--node", ",".join(call.nodes)]
    for h in headers:
        argv += ["--header", h]
    if display_name:
        argv += ["--header", f"{HEADER_DISPLAY_NAME}: {display_name}"]
    if insecure:
        argv.append("--insecure")
    if cacerts:
        argv += ["--cacerts", ",".join(cacerts)]
    return argv


# ---- housekeeping -------------------------------------------------------------------------------


def stale_files(
    entries: "Iterable[tuple[str, float]]", now: float, max_age: float, keep: "frozenset[str]" = frozenset()
) -> "list[str]":
    """Paths (with their last access time) the repo cleaner deletes: idle longer than max_age."""
    return [path for path, atime in entries if now - atime > max_age and path not in keep]


def default_ratelimit(cpu_count: int, nic_speeds_mbit: "Iterable[int]", fallback: int) -> int:
    """v1: 20MB, but on hosts with >= 24 CPUs the fastest `enp*` NIC's speed / 8."""
    if cpu_count < 24:
        return fallback
    fastest = max((s for s in nic_speeds_mbit if s > 0), default=0)
    return fastest * 1000 * 1000 // 8 if fastest else fallback
