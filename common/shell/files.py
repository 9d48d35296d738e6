"""Small file operations the programs share."""

import logging
import os

log = logging.getLogger(__name__)


def remove_file(path: str) -> None:
    """Delete a file; one that is already gone is fine, one that cannot go is logged, not raised
    (cleanup must never abort what it cleans up after)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        log.warning("cannot remove path=%s error=%s", path, e)
