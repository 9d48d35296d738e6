"""Task and preheat ids (docs/protocol.md#identifiers): salted SHA-256, byte-compatible with v1."""

import hashlib
from collections.abc import Mapping

TASK_ID_SALT = bytes.fromhex("3e492470672d7e41537e7350277271755f604f68266c7a23395d223d3b6e4525")


def _salted_sha256(*parts: str) -> str:
    h = hashlib.sha256(TASK_ID_SALT)
    for part in parts:
        h.update(part.encode("utf-8"))
    h.update(TASK_ID_SALT)
    return h.hexdigest()


def task_id(task_url: str, md5: str = "", identifier: str = "", headers: "Mapping[str, str] | None" = None) -> str:
    """sha256(K + taskURL + (md5 or identifier) + [headers['Range']] + K)."""
    sign = md5 or identifier or ""
    rng = (headers or {}).get("Range", "")
    return _salted_sha256(task_url, sign, rng)


def preheat_id(filtered_url: str, identifier: str = "", headers: "Mapping[str, str] | None" = None) -> str:
    """Like task_id, but md5 never takes part (docs/protocol.md#supernode-system-management-and-preheat)."""
    rng = (headers or {}).get("Range", "")
    return _salted_sha256(filtered_url, identifier or "", rng)
