"""One download, step by step (docs/architecture.md#one-download): register, P2P, back-to-source, report.

`Session.execute()` either returns (the output file is in place) or raises a DfgetError whose
class says which v1 error class it is; run.py turns that into the result line and exit status.
"""

import logging
import os
import threading

from common.protocol.codes import NOT_BACK_SOURCE_OFFSET, BackSourceReason
from common.protocol.messages import TaskMetricsRequest
from common.version import VERSION
from dfget.core import lines
from dfget.core.locator import Locator
from dfget.core.timing import download_timeout
from dfget.downloaders.deadline import run_with_deadline
from dfget.downloaders.p2p import P2PDownloader
from dfget.downloaders.writer import FileAssembly
from dfget.errors import DownloadError, LaunchServerError, P2PFailure, RegisterError, SourceFailure
from dfget.piece_fetcher import PieceFetcher
from dfget.prepare import prepare
from dfget.progressbar import ProgressBar
from dfget.ratelimit import Limiter
from dfget.register import RegisterFailed, Registrar
from dfget.supernode_client import SupernodeClient

log = logging.getLogger(__name__)


class Session:
    def __init__(self, cfg, svc, sign: str, output: str, started: float, task_url: str):
        self.cfg, self.svc = cfg, svc
        self.sign, self.output, self.started = sign, output, started
        self.locator = Locator(list(cfg.nodes), task_url)
        self.client = SupernodeClient()
        self.limiter = Limiter(cfg.task_rate, svc.clock)  # interruptible waits, see _attempt
        self.progress = ProgressBar(svc.err_stream, svc.clock, cfg.showbar)
        self.ctx = None
        self._unwanted = threading.Event()  # see cancel()
        self._attempt_cancelled: threading.Event | None = None

    @property
    def file_length(self) -> int:
        return self.ctx.file_length if self.ctx else -1

    @property
    def reason(self) -> int:
        return self.ctx.back_source_reason if self.ctx else 0

    def execute(self) -> None:
        echo = self.svc.echo
        echo(lines.version_line(VERSION))
        echo(lines.workspace_line(self.cfg.work_home))
        echo(lines.sign_line(self.sign))
        self.ctx = prepare(self.cfg, self.output, self.sign, self.started, self.locator.order)
        success = False
        try:
            self._register()
            self._download()
            success = True
        finally:
            self.limiter.interrupt()  # no thread of ours waits for bandwidth after the result
            self._cleanup(success)

    def cancel(self) -> None:
        """Nobody wants the file any more (dfdaemon's reader went away, or it stops): the running
        attempt ends as at its deadline, and no other starts (no back-to-source)."""
        self._unwanted.set()
        if self._attempt_cancelled is not None:
            self._attempt_cancelled.set()
        self.limiter.interrupt()

    # -- registration --------------------------------------------------------------------------

    def _register(self) -> None:
        cfg, ctx = self.cfg, self.ctx
        if cfg.pattern == "source":
            ctx.back_source_reason = BackSourceReason.USER_SPECIFIED
            return
        if not len(self.locator):
            ctx.back_source_reason = BackSourceReason.NODE_EMPTY
            return
        if ctx.pattern == "p2p":
            self._launch_upload_server()
        else:
            ctx.peer_port = cfg.port  # v1: cdn registers --port as is (normally 0, "never uploads")
        self.registrar = Registrar(cfg, ctx, self.client, self.locator, self.svc.sleep, self.svc.hostname)
        try:
            node, result = self.registrar.register()
        except RegisterFailed as e:
            if e.result_code == 608:
                raise RegisterError(str(e)) from None
            log.warning(
                "register fail but try to download from source, reason:%d(%s)", BackSourceReason.REGISTER_FAIL, e
            )
            self.svc.echo_err(
                lines.p2p_off_line(f"no supernode took the download ({e}); fetching it straight from the source")
            )
            ctx.back_source_reason = BackSourceReason.REGISTER_FAIL
            return
        ctx.adopt(node, result)
        self.svc.echo(lines.connected_line(ctx.local_ip, node.addr))

    def _launch_upload_server(self) -> None:
        try:
            self.ctx.peer_port = self.svc.uploader.start(self.cfg, self.ctx, on_failure=self._p2p_off)
            self.ctx.streams_pieces = bool(self.svc.uploader.streams_pieces)
        except LaunchServerError as e:
            log.warning("start peer server error:%s, change to CDN pattern", e)
            self._p2p_off(f"{e}: this host shares no pieces")
            self.ctx.pattern, self.ctx.peer_port, self.ctx.streams_pieces = "cdn", 0, False

    def _p2p_off(self, why: str) -> None:
        """P2P upload is impossible on this host: one line on the terminal, never silence."""
        self.svc.echo_err(lines.p2p_off_line(why))

    @property
    def _serving(self) -> bool:
        """Is our upload server serving this task's service file?"""
        return self.ctx.pattern == "p2p" and self.ctx.peer_port > 0

    def _reregister(self, skip, come_back: bool):
        return self.registrar.register(skip, come_back)

    # -- downloading ---------------------------------------------------------------------------

    def _download(self) -> None:
        ctx = self.ctx
        timeout = download_timeout(ctx.file_length, self.cfg.min_rate, self.cfg.timeout)
        if ctx.back_source_reason:
            return self._back_source(timeout)
        self.svc.echo(lines.START_BY_DRAGONFLY)
        try:
            self._p2p(timeout)
        except P2PFailure as e:
            if self._unwanted.is_set():
                raise DownloadError("download cancelled: nobody wants the file any more") from None
            ctx.back_source_reason = e.reason or BackSourceReason.DOWNLOAD_ERROR
            log.error("failed to download by dragonfly: %s, and start try to download from source", e)
            self.svc.echo(lines.fallback_line(str(e)))
            self._back_source(timeout)

    def _p2p(self, timeout: float) -> None:
        ctx, cancelled = self.ctx, threading.Event()
        assembly = FileAssembly(ctx, p2p=self._serving)
        try:
            assembly.open()
        except OSError as e:
            raise P2PFailure(BackSourceReason.WRITE_ERROR, f"cannot create {e.filename}: {e.strerror}") from None
        fetcher = PieceFetcher(None, self.limiter, VERSION, self.cfg.min_rate, cancelled, self.svc.clock)
        p2p = P2PDownloader(
            self.cfg,
            ctx,
            self.svc,
            self.client,
            fetcher,
            assembly,
            self.limiter,
            self.progress,
            self._reregister,
            self.registrar.rejoin,
            cancelled,
        )

        def attempt():
            self.progress.start(ctx.file_length)
            finish = p2p.run()
            assembly.commit(self.cfg.md5 or finish.md5, ctx.file_length, cancelled)
            self.progress.finish()

        try:
            self._attempt(attempt, timeout, cancelled)
        except TimeoutError as e:
            raise P2PFailure(BackSourceReason.DOWNLOAD_ERROR, str(e)) from None
        except OSError as e:
            raise P2PFailure(BackSourceReason.WRITE_ERROR, str(e)) from None
        except P2PFailure:
            raise
        except Exception as e:  # never a traceback: log it and let the source have a go
            log.exception("P2P download failed unexpectedly")
            raise P2PFailure(BackSourceReason.DOWNLOAD_ERROR, str(e)) from None
        finally:
            assembly.close()
            if self._serving:
                self.svc.uploader.finish(ctx)

    def _back_source(self, timeout: float) -> None:
        ctx = self.ctx
        if self.cfg.notbs or ctx.back_source_reason == BackSourceReason.NO_SPACE:
            ctx.back_source_reason += NOT_BACK_SOURCE_OFFSET
            raise DownloadError(
                "failed to download file from source: " + lines.not_back_source_message(ctx.back_source_reason)
            )
        self.svc.echo(lines.back_source_line(os.path.basename(ctx.output)))
        cancelled = threading.Event()
        from dfget.downloaders.source import SourceDownloader

        downloader = SourceDownloader(self.cfg, ctx, self.limiter, self.progress, cancelled)
        try:
            written = self._attempt(downloader.run, timeout, cancelled)
        except TimeoutError as e:
            # The thread may be stuck in a read: its temp files go now, not when it wakes up.
            if not downloader.abandon():
                raise DownloadError(f"failed to download file from source: {e}") from None
            written = os.path.getsize(ctx.output)  # it committed just before the deadline
        except (SourceFailure, OSError) as e:
            raise DownloadError(f"failed to download file from source: {e}") from None
        self.progress.finish()
        if ctx.file_length < 0:
            ctx.file_length = written

    def _attempt(self, fn, timeout: float, cancelled: threading.Event):
        """Run one download attempt under its deadline; when it ends, however it ends, no
        thread of it may go on waiting in the rate limiter."""
        self._attempt_cancelled = cancelled
        if self._unwanted.is_set():
            cancelled.set()
        self.limiter.resume()
        try:
            return run_with_deadline(fn, timeout, cancelled)
        finally:
            self.limiter.interrupt()

    # -- the end -------------------------------------------------------------------------------

    def _cleanup(self, success: bool) -> None:
        ctx = self.ctx
        try:
            os.remove(ctx.temp_target)
        except OSError:
            pass
        if self.cfg.pattern == "source" or not ctx.registered or ctx.node is None:
            return
        self.client.report_metrics(
            ctx.node,
            TaskMetricsRequest(
                ip=ctx.local_ip,
                port=ctx.peer_port,
                task_id=ctx.task_id,
                cid=ctx.cid,
                call_system=self.cfg.call_system,
                duration=max(self.svc.clock.time() - self.started, 0.0),
                success=success,
                back_source_reason=str(ctx.back_source_reason),
                file_length=max(ctx.file_length, 0),
            ),
        )
