"""Text of the --showbar progress bar (docs/decisions.md #10): bytes, percentage, rate and ETA."""

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes(n: float) -> str:
    value, unit = float(n), _UNITS[0]
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            break
        value /= 1024
    return f"{int(value)}{unit}" if unit == "B" else f"{value:.1f}{unit}"


def human_seconds(seconds: float) -> str:
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def render(done: int, total: int, elapsed: float, width: int = 30, final: bool = False) -> str:
    """One line, e.g. ` 42% [============>                 ] 12.0MiB/28.5MiB 4.1MiB/s eta 4s`."""
    rate = done / elapsed if elapsed > 0 else 0.0
    speed = f"{human_bytes(rate)}/s"
    if total and total > 0:
        frac = min(max(done / total, 0.0), 1.0)
        filled = int(frac * width)
        bar = "=" * filled + (">" if filled < width else "") + " " * max(width - filled - 1, 0)
        if final:
            tail = f"in {human_seconds(elapsed)}"
        else:
            tail = f"eta {human_seconds((total - done) / rate)}" if rate > 0 else "eta --"
        return f"{int(frac * 100):3d}% [{bar}] {human_bytes(done)}/{human_bytes(total)} {speed} {tail}"
    tail = f"in {human_seconds(elapsed)}" if final else ""
    return f"[{'<=>':^{width}}] {human_bytes(done)} {speed} {tail}".rstrip()
