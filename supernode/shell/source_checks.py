"""The source checks of a registration, done outside the service lock: a probe (HEAD, with the
registrant's URL and headers) or a conditional request against the cached copy (docs/decisions.md #9,
registration's theory of operation). URLs are logged without userinfo or query values."""

import logging

from common.urls import redact_url
from supernode.core.coordinator import Probe, Registrant

log = logging.getLogger(__name__)


def check(cdn, reg: Registrant, conditional: bool) -> Probe:
    return revalidate(cdn, reg) if conditional else probe(cdn, reg)


def probe(cdn, reg: Registrant) -> Probe:
    try:
        result = cdn.probe(reg.source)
    except Exception as e:  # noqa: BLE001 - a broken prober must not fail the registration
        log.warning("source probe raised task=%s url=%s error=%r", reg.task_id, redact_url(reg.source.url), e)
        return Probe(status=0)
    if not result.ok:  # the cause in one line when it is known, not urllib3's page
        log.info(
            "source probe task=%s url=%s status=%s error=%s",
            reg.task_id,
            redact_url(reg.source.url),
            result.status,
            result.unreachable.line() if result.unreachable else result.error,
        )
    return Probe(
        status=result.status, length=result.length, supports_range=result.supports_range, unreachable=result.unreachable
    )


def revalidate(cdn, reg: Registrant) -> Probe:
    """A conditional request (with this registrant's URL and headers) against the cached copy."""
    try:
        result = cdn.revalidate(reg.task_id, reg.source)
    except Exception as e:  # noqa: BLE001 - keep serving the cached copy; try again after the interval
        log.warning("source revalidation raised task=%s url=%s error=%r", reg.task_id, redact_url(reg.source.url), e)
        return Probe(status=0, revalidation=True)
    checked = Probe(status=result.status, length=result.length, supports_range=result.supports_range, revalidation=True)
    level = logging.WARNING if checked.changed else logging.INFO
    log.log(
        level,
        "source revalidated task=%s url=%s status=%s changed=%s error=%s",
        reg.task_id,
        redact_url(reg.source.url),
        result.status,
        checked.changed,
        result.error,
    )
    return checked
