"""Cache detection on start() (docs/architecture.md#the-cdn-build, with docs/decisions.md #4, #7): what to do with what
is on disk.

Pure: the caller reads `.meta` and the data file's size/age and carries out the decision.

Theory of operation
  * "The same file": pieceSize, taskID and URL match, and (user md5 given → stored md5 equal,
    else identifier equal). Anything else → FRESH (wipe and build from scratch).
  * Finished and successful, data file as long as recorded:
      - the user gave an md5 and it equals the stored realMd5 → HIT: the content is pinned, no
        question to the source is needed;
      - the source gave validators (Last-Modified / ETag) → REVALIDATE with If-Modified-Since /
        If-None-Match; only 304 means fresh (then HIT), anything else → FRESH;
      - no validators (v1 re-fetched these on every trigger; we do not): HIT while the data is
        younger than `unvalidated_ttl` seconds and the probed length (if known) still equals the
        stored one; otherwise FRESH.
  * Finished and failed → FRESH.
  * Unfinished (a crash or restart mid-build) → RESUME from the last complete piece when that
    is safe: at least one whole piece on disk, the task has no Range header of its own, and the
    source content can be checked (a strong validator to send as If-Range, or a user md5 verified
    at the end). Otherwise FRESH. The 206 that resumes must then prove it is the same version
    (`same_version`): servers that ignore If-Range exist, and so do hostile ones.
"""

from dataclasses import dataclass
from enum import Enum

from supernode.cdn.core.contract import CdnJob, ProbeResult
from supernode.cdn.core.records import FileMeta, ms_to_http_date

DEFAULT_UNVALIDATED_TTL = 3600.0


class Action(str, Enum):
    HIT = "hit"
    REVALIDATE = "revalidate"
    RESUME = "resume"
    FRESH = "fresh"


@dataclass(frozen=True)
class CacheDecision:
    action: Action
    reason: str
    break_num: int = 0  # RESUME: the first piece to fetch


def same_file(meta: FileMeta, job: CdnJob) -> bool:
    if (meta.piece_size, meta.task_id, meta.url) != (job.piece_size, job.task_id, job.source.url):
        return False
    return meta.md5 == job.md5 if job.md5 else meta.biz_id == job.identifier


def decide(
    meta: "FileMeta | None",
    job: CdnJob,
    *,
    data_size: int,
    data_age: float,
    unvalidated_ttl: float = DEFAULT_UNVALIDATED_TTL,
) -> CacheDecision:
    """`data_size` is -1 when the data file is missing; `data_age` is seconds since it was written."""
    if meta is None:
        return CacheDecision(Action.FRESH, "no cached meta")
    if not same_file(meta, job):
        return CacheDecision(Action.FRESH, "cached meta is for a different file")
    if data_size < 0:
        return CacheDecision(Action.FRESH, "data file missing")
    if meta.finish:
        if not meta.success:
            return CacheDecision(Action.FRESH, "previous build failed")
        if data_size != meta.file_length:
            return CacheDecision(Action.FRESH, f"data file is {data_size} bytes, meta says {meta.file_length}")
        return _decide_finished(meta, job, data_age, unvalidated_ttl)
    return _decide_unfinished(meta, job, data_size)


def _decide_finished(meta: FileMeta, job: CdnJob, data_age: float, ttl: float) -> CacheDecision:
    if job.md5 and job.md5 == meta.real_md5:
        return CacheDecision(Action.HIT, "content pinned by the user's md5")
    if meta.has_validators:
        return CacheDecision(Action.REVALIDATE, "source has validators")
    if job.source_length >= 0 and job.source_length != meta.http_file_len:
        return CacheDecision(
            Action.FRESH, f"no validators and source length changed ({meta.http_file_len} -> {job.source_length})"
        )
    if data_age >= ttl:
        return CacheDecision(Action.FRESH, f"no validators and the copy is {data_age:.0f}s old (ttl {ttl:.0f}s)")
    return CacheDecision(Action.HIT, f"no validators; copy is {data_age:.0f}s old, within ttl {ttl:.0f}s")


def _decide_unfinished(meta: FileMeta, job: CdnJob, data_size: int) -> CacheDecision:
    complete = data_size // meta.piece_size
    if complete < 1:
        return CacheDecision(Action.FRESH, "unfinished, no complete piece on disk")
    if job.source.headers.has("Range"):
        return CacheDecision(Action.FRESH, "unfinished, the task has its own Range header")
    if not (if_range_value(meta.etag, meta.last_modified) or job.md5):
        return CacheDecision(Action.FRESH, "unfinished, and the source content cannot be checked")
    return CacheDecision(Action.RESUME, f"unfinished, resuming after {complete} pieces", break_num=complete)


def unchanged(meta: FileMeta, probe: ProbeResult, data_age: float, ttl: float) -> bool:
    """A source that answered 2xx to a plain probe still has the cached content: the same strong
    ETag or Last-Modified (servers that ignore conditional requests), or - without validators -
    the same length while the copy is younger than `ttl` (as `decide` would serve it)."""
    if meta.etag and not meta.etag.startswith("W/") and probe.etag:
        return probe.etag == meta.etag
    if meta.last_modified > 0 and probe.last_modified:
        return probe.last_modified == ms_to_http_date(meta.last_modified)
    if meta.has_validators:
        return False
    return probe.length >= 0 and probe.length == meta.http_file_len and data_age < ttl


def revalidation_headers(meta: FileMeta) -> "dict[str, str]":
    out = {}
    if meta.last_modified > 0:
        out["If-Modified-Since"] = ms_to_http_date(meta.last_modified)
    if meta.etag:
        out["If-None-Match"] = meta.etag
    return out


def if_range_value(etag: str, last_modified_ms: int) -> str:
    """A validator usable in If-Range: a strong ETag, else the Last-Modified date, else ""."""
    if etag and not etag.startswith("W/"):
        return etag
    if last_modified_ms > 0:
        return ms_to_http_date(last_modified_ms)
    return ""


def same_version(meta: FileMeta, *, etag: str, last_modified_ms: int, total_length: int) -> bool:
    """Does a 206 answering a resume come from the version whose first bytes are on disk?

    The stored strong ETag (else Last-Modified) must come back unchanged, and the total length
    too when one was recorded. Without any stored validator only a user md5 can tell, at the end
    of the build (`decide` resumes such a task only with one), so the answer is yes."""
    if meta.http_file_len >= 0 and total_length != meta.http_file_len:
        return False
    if meta.etag and not meta.etag.startswith("W/"):
        return etag == meta.etag
    if meta.last_modified > 0:
        return last_modified_ms == meta.last_modified
    return not meta.etag  # a weak ETag alone proves nothing about the bytes
