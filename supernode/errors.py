"""Errors of the supernode service."""
from common.errors import DragonflyError


class NotFound(DragonflyError):
    """An id (task, peer, client) the supernode does not know."""
