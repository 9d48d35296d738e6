"""Carries out the core's effects (supernode.core.effects) after the service lock is released."""

import logging

from common.urls import redact_url
from supernode.cdn.core.contract import CdnJob, CdnResult
from supernode.core import effects as fx

log = logging.getLogger(__name__)


class EffectRunner:
    def __init__(self, cdn, listener, waiters, metrics, repair, console=None):
        """`listener` is the service: the CDN reports pieces and the end of a build to it.
        `console`: the console's ledger (supernode/console/core/ledger.py), fed transfers and origin bytes."""
        self.cdn, self.listener, self.waiters, self.metrics, self.repair = cdn, listener, waiters, metrics, repair
        self.console = console

    def run(self, effects) -> None:
        for effect in effects:
            if isinstance(effect, fx.Wake):
                self.waiters.wake(effect.task_id)
            elif isinstance(effect, fx.Count):
                self.metrics.count(effect)
                if self.console is not None and effect.metric is fx.Metric.CDN_DOWNLOAD_SIZE:
                    self.console.origin(int(effect.amount))
            elif isinstance(effect, fx.Delivered):
                if self.console is not None:
                    self.console.delivered(effect)
            elif isinstance(effect, fx.StartCdn):
                self._start_cdn(effect)
            elif isinstance(effect, fx.ForgetCdn):
                self._quietly(self.cdn.forget, effect.task_id)
            elif isinstance(effect, fx.DeleteFiles):
                self._quietly(self.cdn.delete, effect.task_id)
            elif isinstance(effect, fx.RepairPiece):
                self.repair.request(effect)
            else:
                raise TypeError(f"unknown effect {effect!r}")

    def _quietly(self, fn, task_id: str) -> None:
        try:
            fn(task_id)
        except Exception as e:  # noqa: BLE001 - one task's CDN trouble must not stop the other effects
            log.warning("cdn %s failed task=%s error=%r", fn.__name__, task_id, e)

    def _start_cdn(self, e: fx.StartCdn) -> None:
        job = CdnJob(
            task_id=e.task_id,
            source=e.source,
            piece_size=e.piece_size,
            md5=e.md5,
            identifier=e.identifier,
            source_length=e.source_length,
        )
        log.info(
            "cdn start task=%s url=%s pieceSize=%s length=%s",
            e.task_id,
            redact_url(e.source.url),
            e.piece_size,
            e.source_length,
        )
        try:
            self.cdn.start(job, self.listener)
        except Exception as exc:
            log.exception("cdn start failed task=%s", e.task_id)
            self.listener.on_done(e.task_id, CdnResult(success=False, error=f"cdn start failed: {exc!r}"))
