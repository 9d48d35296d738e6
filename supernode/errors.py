"""The supernode's errors (all under common.errors.DragonflyError)."""

from common.errors import DragonflyError


class SupernodeError(DragonflyError):
    """Root of the errors the supernode service raises."""


class NotFound(SupernodeError):
    """The task, peer or client download asked about is not known (REST: 404)."""


class Conflict(SupernodeError):
    """The request contradicts existing state (REST: 409)."""
