"""How to reach a source: its URL, the request headers to send, and how to trust its TLS (pure).

One type from the registration on the wire to the CDN's fetch (docs/architecture.md#a-registration-post-peerregistry):
`RegisterRequest.source()` reads it off the wire, the core keeps it on the registrant and the
task and hands it to the CDN in the StartCdn effect, and the CDN probes, revalidates and fetches
with it. Headers keep one type on that way: an immutable, ordered `Headers` mapping, so that no
layer turns them into pairs or a dict of its own.
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from common.urls import convert_headers


class Headers(Mapping[str, str]):
    """Request headers for a source, in the order given; immutable (and so hashable).

    Lookups by `[]`/`get` are exact, as in a dict (the task id reads `Range` so, like v1);
    `has`/`value` ignore case, as HTTP does."""

    __slots__ = ("_items",)

    def __init__(self, items: "Mapping[str, str] | Iterable[tuple[str, str]]" = ()) -> None:
        self._items: dict[str, str] = dict(items)

    @classmethod
    def from_lines(cls, lines: "Iterable[str] | None") -> "Headers":
        """v1's wire form, ["K: V", ...] (common/urls.py:convert_headers says how it is read)."""
        return cls(convert_headers(list(lines or ())))

    def lines(self) -> "list[str]":
        """Back to v1's wire form."""
        return [f"{k}: {v}" for k, v in self._items.items()]

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._items == dict(other.items())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self._items.items()))

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def has(self, name: str) -> bool:
        """Whether a header of this name (in any case) is present."""
        low = name.lower()
        return any(k.lower() == low for k in self._items)

    def without(self, name: str) -> "Headers":
        """These headers less every one named `name` (in any case)."""
        low = name.lower()
        return Headers((k, v) for k, v in self._items.items() if k.lower() != low)

    def value(self, name: str) -> str:
        """The values of every header named `name` (in any case), joined with ','; "" if none."""
        low = name.lower()
        return ",".join(v for k, v in self._items.items() if k.lower() == low)


@dataclass(frozen=True)
class Tls:
    """How to trust the source's certificate (v1's `insecure` and `rootCAs`)."""

    insecure: bool = False
    root_cas: "tuple[str, ...]" = ()  # base64-encoded PEM certificates, as sent in rootCAs


@dataclass(frozen=True)
class SourceAccess:
    """The URL to fetch (the raw URL the client gave, userinfo and query included), its headers
    and its TLS trust: all that the supernode needs to reach the source on a client's behalf."""

    url: str
    headers: Headers = field(default_factory=Headers)
    tls: Tls = Tls()
