"""The P2P pull loop (docs/architecture.md#a-pull-get-peertask, docs/decisions.md #1, #4, #5).

Theory of operation. One thread (the loop) talks to the supernode; a pool of worker threads
fetches pieces. The loop sends one report per GET /peer/task (core.plan.PieceBook decides which)
and acts on the answer:

* 601 with pieces -> the book says which to fetch; each goes to a worker.
* 602 (or 601/603 without pieces) -> if pieces are running, wait for one to finish (its outcome
  is the next report); otherwise ask again with the same report. With our supernode (it issued a
  client key) a client with pieces running keeps an *ask* open instead (status 701, no result,
  held up to RUNNING_ASK s), so that a fresh piece or a freed holder reaches it at once; an ask
  answered at once (not held) falls back to waiting for a piece (docs/decisions.md #24). We send `wait=<s>` when nothing
  is running so that our supernode holds the answer until a piece is ready; a v1 supernode
  answers at once, and then a short growing back-off applies (core.timing.WaitBackoff).
* 600 -> wait for the workers, return the supernode's md5 for the final check.
* 610 -> the source failed: give up P2P (back-source reason 10).
* 502 "unknown task" -> the supernode lost our task (restarted in place): register with the same
  supernode again and carry on with the pieces we have (dfget/register.py); if it does not take
  us, migrate.
* anything else or no answer -> migrate: register with the next supernode (skipping this one);
  if that fails, give up P2P (reason 3). A different piece size there discards what we have.
  Only a supernode that did not answer or no longer knows us (502: restarted in place) is asked
  again when there is no other (dfget.register); one that answered 500 has failed this task.

A worker fetches (in the p2p pattern the payload lands in the service file as it arrives, and the
flight file says how far: docs/decisions.md #25), verifies (md5 + framing), writes the payload at
its offset (what did not land yet; all of it into an across-filesystem temp target), tells the supernode
the piece is persisted (/peer/piece/suc, 3 tries) and then posts the outcome to the loop, so that
the loop's next pull already finds the piece counted (the answer may then be 600).
A bad piece is reported via /peer/piece/error (and as a FAIL report) and never fetched again from
the same source.
"""

import json
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from common.errors import BadInput
from common.protocol.codes import BackSourceReason, ClientErrorType, PieceResult, ResultCode, TaskStatus
from common.protocol.messages import (
    FinishResult,
    PieceErrorRequest,
    PieceSuccessRequest,
    PieceTask,
    PullPieceTaskRequest,
    ResultInfo,
)
from dfget.core.lines import migrated_line
from dfget.core.plan import ASK, PieceBook, Report
from dfget.core.timing import RefreshTimer, WaitBackoff, effective_rate, suc_retry_delays
from dfget.downloaders.announce import announce_held
from dfget.downloaders.writer import LandingAbandoned
from dfget.errors import P2PFailure, PieceFailure
from dfget.supernode_client import SupernodeUnavailable

log = logging.getLogger(__name__)
PROTOCOL_CODES = {
    ResultCode.PEER_FINISH,
    ResultCode.PEER_CONTINUE,
    ResultCode.PEER_WAIT,
    ResultCode.PEER_LIMITED,
    ResultCode.SUCCESS,
    ResultCode.SOURCE_ERROR,
}
CANCEL_CHECK = 0.5
RATE_JOIN = 0.5  # s: an unanswered rate ask or announcement never holds up the end of a download
RUNNING_ASK = 3.0  # s: a held ask while pieces run (a failure is reported at most this late)


@dataclass
class Outcome:
    task: PieceTask
    generation: int
    ok: bool
    error: str = ""
    write_error: bool = False
    corrupt: bool = False  # the source sent bad bytes (not merely slow or gone)
    acked: bool = True  # the supernode acknowledged /peer/piece/suc


class P2PDownloader:
    def __init__(
        self,
        cfg,
        ctx,
        svc,
        client,
        fetcher,
        assembly,
        limiter,
        progress,
        reregister: Callable,
        rejoin: Callable,
        cancelled: threading.Event,
    ):
        self.cfg, self.ctx, self.svc = cfg, ctx, svc
        self.client, self.fetcher, self.assembly = client, fetcher, assembly
        self.limiter, self.progress = limiter, progress
        self.reregister = reregister
        self.rejoin = rejoin
        self.cancelled = cancelled
        self.book = PieceBook()
        self.outcomes: queue.Queue[Outcome] = queue.Queue()
        self.generation = 0
        self.backoff = WaitBackoff(svc.rng.random)
        self.rate_timer = RefreshTimer()
        self.pool = ThreadPoolExecutor(max_workers=cfg.client_queue_size, thread_name_prefix="piece")
        self._rate_thread: threading.Thread | None = None
        self._announcer: threading.Thread | None = None

    def run(self) -> FinishResult:
        try:
            return self._loop()
        finally:
            self.pool.shutdown(wait=False, cancel_futures=True)
            for thread in (self._rate_thread, self._announcer):
                if thread is not None:
                    thread.join(RATE_JOIN)

    # -- the loop ------------------------------------------------------------------------------

    def _loop(self) -> FinishResult:
        item: Report | None = None
        last: Report | None = None
        while True:
            self._check_cancelled()
            self._drain()
            running = bool(self.book.running)
            item = item or self.book.next_report()
            if item is None and running and self.ctx.holds_asks:
                item = ASK  # keep an ask open while pieces run: new work starts the moment it exists
            item = item or (None if running else last)
            if item is None:
                self._await_outcome(None)
                continue
            if item is not ASK:
                last = item
            asked = self._ask_seconds(running)
            start = self.svc.clock.monotonic()
            answer = self._pull(item, asked)
            waited = self.svc.clock.monotonic() - start
            if answer is None:  # migrated: start over with the new supernode
                item = last = None
                continue
            if answer.code == ResultCode.PEER_FINISH:
                return self._finish(answer)
            if answer.code == ResultCode.SOURCE_ERROR:
                raise P2PFailure(
                    BackSourceReason.SOURCE_ERROR, answer.msg or "the supernode could not fetch the source"
                )
            if answer.code == ResultCode.PEER_CONTINUE and answer.data:
                self._start(answer.data)
                self.backoff.reset()
                item = None
            elif self.book.running:
                item = None
                if not (answer.code == ResultCode.PEER_WAIT and asked > 0 and waited >= asked * 0.5):
                    self._await_outcome(None)  # not held (at our limit, or no long-poll): wait for a piece
            else:
                self._await_outcome(self.backoff.next(waited, asked))

    def _ask_seconds(self, running: bool) -> float:
        """How long the supernode may hold this pull: the long-poll when nothing runs; a short hold
        while pieces run (a failure report waits at most that long); none for a v1 supernode."""
        if not running:
            return self.svc.long_poll
        return RUNNING_ASK if self.ctx.holds_asks else 0.0

    def _pull(self, item: Report, asked: float) -> ResultInfo | None:
        ctx = self.ctx
        req = PullPieceTaskRequest(
            src_cid=ctx.cid,
            dst_cid=item.dst_cid,
            range=item.range,
            result=int(item.result),
            status=int(item.status),
            task_id=ctx.task_id,
            wait=asked,
        )
        try:
            answer = self.client.pull(ctx.node, req, timeout=asked + 10.0)
        except SupernodeUnavailable as e:
            self._migrate(str(e), lost=True)
            return None
        if answer.code in PROTOCOL_CODES:
            return answer
        why = f"code {answer.code} {answer.msg}".strip()
        lost = answer.code == ResultCode.TARGET_NOT_FOUND
        found = self.rejoin(ctx.node, why) if lost else None
        if found is None:
            self._migrate(why, lost=lost)
        else:
            self._adopt(*found)
        return None

    def _migrate(self, why: str, lost: bool) -> None:
        """`lost`: the supernode did not answer or forgot us, so it may come back (a restart)."""
        ctx = self.ctx
        log.warning("supernode %s failed (%s), migrating", ctx.node, why)
        try:
            node, result = self.reregister(ctx.node, lost)
        except Exception as e:  # noqa: BLE001 - whatever ends the migration, the download goes back to source
            raise P2PFailure(
                BackSourceReason.DOWNLOAD_ERROR, f"supernode {ctx.node} failed ({why}) and migration failed: {e}"
            ) from None
        self._adopt(node, result)
        self.svc.echo(migrated_line(node.addr))

    def _adopt(self, node, result) -> None:
        """A new registration (another node, or the same one again): keep the pieces we have
        unless the piece size changed, and announce them; report from START."""
        ctx = self.ctx
        old_size = ctx.piece_size
        ctx.adopt(node, result)
        if result.piece_size != old_size:
            self.generation += 1
            self.book.reset()
            self.assembly.truncate()
            self.progress.start(ctx.file_length)
        else:
            self.book.restart()
            self._announcer = announce_held(self.client, ctx, list(self.book.done), self.cancelled)

    # -- pieces --------------------------------------------------------------------------------

    def _start(self, data) -> None:
        try:
            tasks = [PieceTask.decode(d) for d in data]
        except (BadInput, TypeError) as e:
            self._migrate(f"malformed piece tasks: {e}", lost=False)
            return
        self._refresh_rate()
        for task in self.book.plan(tasks):
            self.pool.submit(self._fetch, task, self.generation)
        stuck = self.book.stuck()
        if stuck:
            raise P2PFailure(BackSourceReason.DOWNLOAD_ERROR, f"no usable source for piece {stuck}")

    def _refresh_rate(self) -> None:
        """Ask the upload server for our share of --totallimit without holding up the pieces: the
        answer (never above --locallimit) applies to the limiter when it arrives. The first ask
        may wait for a just-spawned upload server to finish starting."""
        serving = self.ctx.pattern == "p2p" and self.ctx.peer_port > 0
        if not serving or not self.rate_timer.due(self.svc.clock.monotonic()):
            return
        if self._rate_thread is not None and self._rate_thread.is_alive():
            return

        def ask() -> None:
            granted = self.svc.uploader.rate(self.ctx, self.cfg.task_rate)
            self.limiter.set_rate(effective_rate(self.cfg.task_rate, granted))

        self._rate_thread = threading.Thread(target=ask, name="rate", daemon=True)
        self._rate_thread.start()

    def _fetch(self, task: PieceTask, generation: int) -> None:
        ctx = self.ctx

        def valid() -> bool:
            return generation == self.generation and not self.cancelled.is_set()

        # p2p pattern: the piece lands in the service file as it arrives (docs/decisions.md #25)
        landing = self.assembly.landing(task.piece_num, task.piece_size, ctx.file_length, valid)
        try:
            self._fetch_into(task, generation, landing, valid)
        finally:
            if landing is not None:
                landing.fail()  # an attempt still open failed; after done() this does nothing

    def _fetch_into(self, task: PieceTask, generation: int, landing, valid: "Callable[[], bool]") -> None:
        ctx = self.ctx
        try:
            offset, payload = self.fetcher.fetch(task, ctx.cdn_source, ctx.file_length, self.cfg.header_map, landing)
        except LandingAbandoned as e:
            if e.write_error is not None:
                self.outcomes.put(Outcome(task, generation, False, str(e), write_error=True))
            elif valid():
                self.outcomes.put(Outcome(task, generation, False, str(e)))
            return
        except PieceFailure as e:
            if landing is not None:
                landing.fail()  # at once: streams of its bad bytes are cut before the report goes out
            self._report_bad_piece(task, e)
            corrupt = e.error_type == ClientErrorType.FILE_MD5_NOT_MATCH.value
            self.outcomes.put(Outcome(task, generation, False, str(e), corrupt=corrupt))
            return
        except Exception as e:  # a bug or an unexpected I/O problem: the piece failed, go on
            log.exception("fetching piece %s failed", task.range)
            self.outcomes.put(Outcome(task, generation, False, str(e)))
            return
        if not valid():
            return
        landed = landing.landed_at(offset) if landing is not None else 0
        try:
            token = self.assembly.write(offset, payload, valid, hash_now=False, landed=landed)
        except OSError as e:
            self.outcomes.put(Outcome(task, generation, False, f"write error: {e}", write_error=True))
            return
        if not token:
            return
        if landing is not None:
            landing.done()
        self.progress.add(len(payload))
        acked = self._report_persisted(task)  # before the loop reports it: the supernode knows when we pull
        self.outcomes.put(Outcome(task, generation, True, acked=acked))
        # The running md5 of the output last: the next piece is already being asked for meanwhile.
        # The md5 runs on its own thread and may keep the payload until the pieces before it are
        # hashed, so this thread fetches its next piece into another buffer; the final check
        # waits for that thread to catch up (dfget/downloaders/writer.py).
        self.fetcher.give_away(payload)
        self.assembly.hash_written(offset, payload, token, self.fetcher.recycle)

    def _report_bad_piece(self, task: PieceTask, e: PieceFailure) -> None:
        log.warning("piece %s from %s (%s:%s) failed: %s", task.range, task.cid, task.peer_ip, task.peer_port, e)
        if not e.error_type:
            return
        req = PieceErrorRequest(
            task_id=self.ctx.task_id,
            range=task.range,
            src_cid=self.ctx.cid,
            dst_cid=task.cid,
            dst_ip=task.peer_ip,
            real_md5=e.real_md5,
            expected_md5=e.expected_md5,
            error_type=e.error_type,
        )
        try:
            self.client.piece_error(self.ctx.node, req)
        except SupernodeUnavailable as err:
            log.warning("failed to report bad piece %s: %s", task.range, err)

    def _report_persisted(self, task: PieceTask) -> bool:
        req = PieceSuccessRequest(task_id=self.ctx.task_id, cid=self.ctx.cid, dst_cid=task.cid, piece_range=task.range)
        for delay in suc_retry_delays(self.svc.rng.random):
            if delay:
                self.svc.sleep(delay)
            try:
                if self.client.piece_success(self.ctx.node, req):
                    return True
            except SupernodeUnavailable as e:
                log.warning("piece/suc for %s failed: %s", task.range, e)
        log.warning("supernode never acknowledged piece %s", task.range)
        return False

    # -- outcomes ------------------------------------------------------------------------------

    def _handle(self, o: Outcome) -> None:
        if o.generation != self.generation:
            return
        if o.write_error:
            raise P2PFailure(BackSourceReason.WRITE_ERROR, o.error)
        if o.ok:
            self.book.succeeded(o.task.range, o.task.piece_num, o.task.cid, acked=o.acked)
            log.info(
                "downloading piece:%s",
                json.dumps(
                    {
                        "taskID": self.ctx.task_id,
                        "superNode": self.ctx.node.addr,
                        "dstCid": o.task.cid,
                        "range": o.task.range,
                        "result": int(PieceResult.SEMISUC),
                        "status": int(TaskStatus.RUNNING),
                        "pieceSize": o.task.piece_size,
                        "pieceNum": o.task.piece_num,
                    },
                    separators=(",", ":"),
                ),
            )
        else:
            self.book.failed(o.task.range, o.task.cid, corrupt=o.corrupt)

    def _drain(self) -> None:
        while True:
            try:
                self._handle(self.outcomes.get_nowait())
            except queue.Empty:
                return

    def _await_outcome(self, timeout: float | None) -> None:
        """Block until one outcome is handled, `timeout` passes (None = no limit) or we are cancelled."""
        if timeout is not None and timeout <= 0:
            return
        deadline = None if timeout is None else self.svc.clock.monotonic() + timeout
        while not self.cancelled.is_set():
            left = CANCEL_CHECK if deadline is None else min(CANCEL_CHECK, deadline - self.svc.clock.monotonic())
            if left <= 0:
                return
            try:
                self._handle(self.outcomes.get(timeout=left))
                return
            except queue.Empty:
                continue

    def _check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise P2PFailure(BackSourceReason.DOWNLOAD_ERROR, "download cancelled")

    def _finish(self, answer: ResultInfo) -> FinishResult:
        try:
            result = FinishResult.decode(answer.data or {})
        except BadInput:
            result = FinishResult()
        self.pool.shutdown(wait=True)
        self._drain()
        return result
