"""The one exception root of dragonfly-py. Each error says whose fault it is."""


class DragonflyError(Exception):
    """Root of every error raised on purpose by this project."""


class BadInput(DragonflyError):
    """The caller sent something malformed (a client's fault: 4xx / ParamError)."""

    def __init__(self, message: str, fields: "dict[str, str] | None" = None):
        self.fields = dict(fields or {})
        super().__init__(message)


class FramingError(BadInput):
    """Bytes that are not a valid framed piece."""


class RangeError(BadInput):
    """A byte range that is malformed."""


class RangeNotSatisfiable(DragonflyError):
    """A well-formed range that lies outside the resource (HTTP 416)."""


class ConfigError(DragonflyError):
    """Configuration that fails validation; `fields` maps every bad setting to its problem."""

    def __init__(self, fields: "dict[str, str]"):
        self.fields = dict(fields)
        lines = "\n".join(f"  {k}: {v}" for k, v in sorted(self.fields.items()))
        super().__init__(f"invalid configuration:\n{lines}")
