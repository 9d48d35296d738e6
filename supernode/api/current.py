"""The supernode a request is served by (built in supernode/app.py, the composition root)."""

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from supernode.app import Dragonfly


def dragonfly() -> "Dragonfly":
    return current_app.extensions["dragonfly"]
