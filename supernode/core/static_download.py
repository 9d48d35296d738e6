"""What an external download server changes in the core's decisions (docs/decisions.md #22).

With `downloadServer: external` a static server (nginx) rooted at `<home>/repo` serves the CDN
files on the download port, as in v1. It cannot check who asks, so every laid-out file is
readable by anyone who can reach that port. Hence:

* a credentialed task (docs/decisions.md #9) is never cached: it becomes a `cdnSource: source`
  task, whose clients fetch byte ranges from the source with their own credentials and share
  them with each other; a source without a length or byte ranges cannot be shared that way, and
  its clients are told to download it from the source (610, so they go to the source at once);
* a laid-out task whose source starts refusing anonymous registrants is retired at once, which
  withdraws its file from the static tree.
"""

from common.protocol.codes import CdnSource, ResultCode
from common.protocol.messages import ResultInfo
from common.source_access import SourceAccess
from supernode.core.model import CDN_PATTERN_SOURCE, DOWNLOAD_SERVER_EXTERNAL, Limits, Task, may_carry_credentials


def external(limits: Limits) -> bool:
    return limits.download_server == DOWNLOAD_SERVER_EXTERNAL


def fetched_from_source(limits: Limits, credentialed: bool) -> bool:
    """Clients of a new task fetch source ranges themselves instead of CDN pieces."""
    return limits.cdn_pattern == CDN_PATTERN_SOURCE or (credentialed and external(limits))


def source_went_private(
    limits: Limits, task: Task, probe_needs_auth: bool, source: SourceAccess, task_url: str
) -> bool:
    """A laid-out task whose source refused an anonymous registrant. A registrant whose own
    credentials were refused proves nothing about the source, so it retires nothing."""
    return (
        external(limits)
        and task.cdn_source is CdnSource.SUPERNODE
        and probe_needs_auth
        and not may_carry_credentials(source, task_url)
    )


def no_source_task(limits: Limits) -> ResultInfo:
    """The answer when a task would have to be fetched from the source and cannot be."""
    if limits.cdn_pattern == CDN_PATTERN_SOURCE:
        return ResultInfo.of(
            ResultCode.SYSTEM_ERROR, "cdn pattern source needs a source with a known length and range support"
        )
    return ResultInfo.of(
        ResultCode.SOURCE_ERROR,
        "this supernode's download server is external and never holds files fetched with "
        "credentials; peers share such a file only when its source gives a length and serves "
        "byte ranges, and this one does not: download it from the source",
    )
