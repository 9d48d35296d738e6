"""Credentials the source accepted for a credentialed task, remembered briefly (docs/decisions.md #9).

A credential is remembered as a fingerprint of the URL and headers the source saw, never their
values, for `revalidate_interval`: a crowd with one credential then costs the source one check
per interval. Each task keeps at most MAX_GRANTS of them (the oldest go first).
"""

import hashlib

from common.protocol.codes import CdnSource, CdnStatus
from common.source_access import SourceAccess
from supernode.core.model import Task

MAX_GRANTS = 1024


def credential(source: SourceAccess) -> str:
    """The fingerprint of a request as the source sees it: URL and headers."""
    lines = [source.url] + sorted(f"{k.lower()}: {v}" for k, v in source.headers.items())
    return hashlib.sha256("\n".join(lines).encode("utf-8", "replace")).hexdigest()


def cached(task: Task) -> bool:
    """A finished CDN copy whose content is not pinned by a user md5: it has validators to check."""
    return task.cdn_status is CdnStatus.SUCCESS and task.cdn_source is CdnSource.SUPERNODE and not task.md5


def granted(task: Task, fingerprint: str, ttl: float, now: float) -> bool:
    """The source accepted this very credential for this task less than `ttl` seconds ago."""
    at = task.grants.get(fingerprint)
    return at is not None and now - at < ttl


def grant(task: Task, fingerprint: str, now: float) -> None:
    task.grants.pop(fingerprint, None)
    task.grants[fingerprint] = now
    while len(task.grants) > MAX_GRANTS:
        del task.grants[next(iter(task.grants))]
