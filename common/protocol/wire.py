"""The machinery behind messages.py: dataclasses that know their JSON keys.

A message field is declared with `wire("jsonKey", ...)`. Decoding matches keys
case-insensitively (v1's Go server did, and v1 clients rely on it), checks every field's type,
and reports *all* problems at once as BadInput. Encoding emits the canonical key and, like Go's
`omitempty`, drops zero values unless the field says otherwise.

Every host may be hostile, so decoding also bounds every field before anything else looks at it:
a text's length (`max_len`, default MAX_TEXT) and characters (`chars`), a list's or object's item
count (`max_items`, default MAX_ITEMS), integers to 64 bits, numbers to finite values. A field over
its bound is refused with its name and size, never echoed back.
"""

import dataclasses
import ipaddress
import math
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any, Self

from common.errors import BadInput

_STRINGS_TRUE = {"true", "1", "yes", "on"}
_STRINGS_FALSE = {"false", "0", "no", "off", ""}

# Bounds of a field that declares none: generous for any legitimate value, small for an attacker.
MAX_TEXT = 8192
MAX_ITEMS = 64
_INT64 = 2**63
# The largest request body the supernode reads (a registration with a few CA certificates).
MAX_REQUEST_BODY = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Chars:
    """The characters a text field may hold, as a regex class, and how to say so."""

    pattern: "re.Pattern[str]"
    description: str

    def bad(self, value: str) -> "str | None":
        m = self.pattern.search(value)
        return None if m is None else f"character {m.group()!r} at {m.start()} is not allowed ({self.description})"


# No control characters (a CR/LF in a header or a log line is an injection).
PRINTABLE = Chars(re.compile(r"[\x00-\x1f\x7f-\x9f]"), "control characters are refused")
# Visible ASCII only: identifiers, digests, addresses, ranges.
VISIBLE = Chars(re.compile(r"[^\x21-\x7e]"), "visible ASCII only, no spaces")


def wire(
    key: str,
    default: Any = None,
    *,
    required: bool = False,
    omitempty: bool = True,
    check: Callable[[Any], str | None] | None = None,
    default_factory: Callable[[], Any] | None = None,
    max_len: int = MAX_TEXT,
    max_items: int = MAX_ITEMS,
    chars: "Chars | None" = None,
) -> Any:
    """Declare a message field with its JSON key. `check(value)` returns an error text or None;
    it runs after the bounds: a text (or each text in a list or object) has at most `max_len`
    characters, all in `chars`; a list or object has at most `max_items` items."""
    meta = {
        "key": key,
        "required": required,
        "omitempty": omitempty,
        "check": check,
        "max_len": max_len,
        "max_items": max_items,
        "chars": chars,
    }
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _type_error(expected: str, value: Any) -> str:
    if isinstance(value, (str, bytes)) and len(value) > 100:
        return f"expected {expected}, got {type(value).__name__} of {len(value)} characters"
    if isinstance(value, (list, dict)):
        return f"expected {expected}, got {type(value).__name__} of {len(value)} items"
    return f"expected {expected}, got {type(value).__name__} {value!r}"[:200]


def _out_of_bounds(meta: Mapping[str, Any], value: Any) -> "str | None":
    """Why `value` (already of the field's type) exceeds the field's bounds, or None."""
    if isinstance(value, str):
        return _text_out_of_bounds(meta, value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if -_INT64 <= value < _INT64 else "integer out of the 64-bit range"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} is not a finite number"
    if isinstance(value, (list, dict)):
        if len(value) > meta["max_items"]:
            return f"{len(value)} items, at most {meta['max_items']} allowed"
        texts = list(value.items()) if isinstance(value, dict) else [(v,) for v in value]
        for item in texts:
            for text in item:
                err = _text_out_of_bounds(meta, text) if isinstance(text, str) else None
                if err:
                    return "item: " + err
    return None


def _text_out_of_bounds(meta: Mapping[str, Any], value: str) -> "str | None":
    if len(value) > meta["max_len"]:
        return f"{len(value)} characters, at most {meta['max_len']} allowed"
    chars = meta["chars"]
    return chars.bad(value) if chars is not None else None


def _coerce(tp: Any, value: Any, from_strings: bool) -> tuple[Any, str | None]:
    """Convert one raw value to `tp`; return (value, None) or (None, error text)."""
    origin = typing.get_origin(tp)
    if origin is typing.Union:  # Optional[X]
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return (None, None) if value is None else _coerce(inner, value, from_strings)
    if tp is str:
        if isinstance(value, str):
            return value, None
        return None, _type_error("a string", value)
    if tp is bool:
        if isinstance(value, bool):
            return value, None
        if from_strings and isinstance(value, str) and value.lower() in _STRINGS_TRUE | _STRINGS_FALSE:
            return value.lower() in _STRINGS_TRUE, None
        return None, _type_error("a boolean", value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value, None
        if isinstance(value, float) and value.is_integer():
            return int(value), None
        if from_strings and isinstance(value, str) and len(value) <= 24 and value.strip().lstrip("-").isdigit():
            try:
                return int(value), None
            except ValueError:  # unicode digits pass isdigit() but not int()
                pass
        return None, _type_error("an integer", value)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value), None
        if from_strings and isinstance(value, str) and len(value) <= 64:
            try:
                return float(value), None
            except ValueError:
                pass
        return None, _type_error("a number", value)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if isinstance(value, str) and from_strings:
            value = [value]
        if not isinstance(value, list):
            return None, _type_error("a list", value)
        out = []
        for item in value:
            converted, err = _coerce(item_tp, item, from_strings)
            if err:
                return None, "list item: " + err
            out.append(converted)
        return out, None
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            return None, _type_error("an object of strings", value)
        return dict(value), None
    if tp is Any:
        return value, None
    raise TypeError(f"unsupported wire type {tp!r}")


def _is_empty(value: Any) -> bool:
    return (
        value is None
        or value == ""
        or value == 0
        and not isinstance(value, bool)
        or value is False
        or value == []
        or value == {}
    )


class Message:
    """Base of every wire message (a dataclass subclass)."""

    @classmethod
    def _fields(cls) -> tuple[tuple[dataclasses.Field[Any], Any], ...]:
        # Resolved once per class: get_type_hints is slow and these calls sit on every request.
        cached = cls.__dict__.get("_wire_fields")
        if cached is None:
            hints = typing.get_type_hints(cls)
            cached = tuple((f, hints[f.name]) for f in dataclasses.fields(cls) if "key" in f.metadata)  # type: ignore[arg-type]  # every subclass is a dataclass
            cls._wire_fields = cached  # type: ignore[attr-defined]  # the per-class cache read above
        return cached

    @classmethod
    def decode(cls, raw: Any, *, from_strings: bool = False) -> Self:
        """Build the message from a JSON object (or, with from_strings, a query/form mapping)."""
        if not isinstance(raw, Mapping) and not hasattr(raw, "getlist"):
            raise BadInput(f"{cls.__name__}: expected a JSON object, got {type(raw).__name__}")
        by_lower: dict[str, Any] = {}
        for k in raw.keys():  # noqa: SIM118 - a form's getlist object need not iterate its keys
            by_lower.setdefault(str(k).lower(), k)
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for f, tp in cls._fields():
            key = f.metadata["key"]
            raw_key = by_lower.get(key.lower())
            if raw_key is None:
                if f.metadata["required"]:
                    errors[key] = "is required"
                continue
            value = raw.getlist(raw_key) if hasattr(raw, "getlist") and typing.get_origin(tp) is list else raw[raw_key]
            converted, err = _coerce(tp, value, from_strings)
            if err is None:
                err = _out_of_bounds(f.metadata, converted)
            if err is None and f.metadata["required"] and _is_empty(converted) and tp is str:
                err = "must not be empty"
            if err is None and f.metadata["check"] and converted is not None:
                err = f.metadata["check"](converted)
            if err:
                errors[key] = err
            else:
                values[f.name] = converted
        if errors:
            detail = "; ".join(f"{k}: {v}" for k, v in errors.items())
            raise BadInput(f"invalid {cls.__name__}: {detail}", errors)
        return cls(**values)

    def encode(self) -> dict[str, Any]:
        """The JSON object with canonical keys; zero values omitted where the field allows."""
        out: dict[str, Any] = {}
        for f, _ in self._fields():
            value = getattr(self, f.name)
            if isinstance(value, Message):
                value = value.encode()
            elif isinstance(value, list):
                value = [v.encode() if isinstance(v, Message) else v for v in value]
            if f.metadata["omitempty"] and _is_empty(value):
                continue
            out[f.metadata["key"]] = getattr(value, "value", value)
        return out

    def query(self) -> "list[tuple[str, str]]":
        """The message as query parameters (every field, in declaration order)."""
        out: list[tuple[str, str]] = []
        for f, _ in self._fields():
            value = getattr(self, f.name)
            if value is None:
                continue
            value = getattr(value, "value", value)
            out.append((f.metadata["key"], "true" if value is True else "false" if value is False else str(value)))
        return out


# Field checks shared by several messages.


def check_ipv4(value: str) -> "str | None":
    try:
        ipaddress.IPv4Address(value)
        return None
    except ValueError:
        return f"{value!r} is not a dotted IPv4 address"


def check_peer_port(value: int) -> "str | None":
    if value == 0 or 15000 <= value <= 65000:
        return None
    return f"port {value} is outside 15000-65000 (0 means the peer does not upload)"


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def check_hostname(value: str) -> "str | None":
    return None if _HOSTNAME.match(value) else f"{value!r} is not a valid RFC 1123 host name"


def check_non_negative(value: float) -> "str | None":
    return None if value >= 0 else f"{value} is negative"
