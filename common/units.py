"""Human-typed quantities: rates and sizes ("20M", "100G") and Go-style durations ("3m30s")."""

import re

from common.errors import BadInput

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kb": 1 << 10,
    "ki": 1 << 10,
    "kib": 1 << 10,
    "m": 1 << 20,
    "mb": 1 << 20,
    "mi": 1 << 20,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gb": 1 << 30,
    "gi": 1 << 30,
    "gib": 1 << 30,
    "t": 1 << 40,
    "tb": 1 << 40,
    "ti": 1 << 40,
    "tib": 1 << 40,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_size(text: "str | int") -> int:
    """'20M' -> 20971520 bytes (binary multiples; a bare number is bytes)."""
    if isinstance(text, bool):
        raise BadInput(f"invalid size {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise BadInput(f"invalid size {text!r}: negative")
        return text
    m = _SIZE.match(str(text))
    unit = m and _SIZE_UNITS.get(m.group(2).lower())
    if not m or unit is None:
        raise BadInput(f"invalid size {text!r}: expected a number with an optional unit B, K, M, G or T")
    return int(float(m.group(1)) * unit)


parse_rate = parse_size  # a rate is a size per second


def format_size(n: int) -> str:
    for unit, factor in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n and n % factor == 0:
            return f"{n // factor}{unit}"
    return str(n)


def parse_duration(text: "str | int | float") -> float:
    """Go duration syntax ('300ms', '3m', '1h30m', '0') -> seconds. A bare number is seconds."""
    if isinstance(text, bool):
        raise BadInput(f"invalid duration {text!r}")
    if isinstance(text, (int, float)):
        if text < 0:
            raise BadInput(f"invalid duration {text!r}: negative")
        return float(text)
    s = str(text).strip()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise BadInput(f"invalid duration {text!r}: expected Go syntax such as 30s, 3m or 1h30m")
    return total


def format_duration(seconds: float) -> str:
    """Seconds -> the shortest Go-style spelling ('3m', '1h30m', '500ms')."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    out, rest = "", int(round(seconds))
    for unit, factor in (("h", 3600), ("m", 60), ("s", 1)):
        if rest >= factor:
            out += f"{rest // factor}{unit}"
            rest %= factor
    return out
