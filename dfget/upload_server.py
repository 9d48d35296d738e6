"""dfget's side of the local peer upload server (spec §7): start or reuse it, tell it about
finished tasks, ask it for this task's share of --totallimit.

The server itself lives in dfget/uploader/; it is imported lazily so that a missing or broken
uploader only turns the p2p pattern into the cdn pattern (spec §4.2).
"""
import logging

from common.errors import DragonflyError

from dfget.errors import LaunchServerError

log = logging.getLogger(__name__)


def _launcher():
    try:
        from dfget.uploader import launcher
    except ImportError as e:
        raise LaunchServerError(f"peer upload server unavailable: {e}") from None
    return launcher


class UploadServer:
    """Adapter over dfget.uploader.launcher; every method is safe to call and never raises
    except `start`, which raises LaunchServerError."""

    def start(self, cfg, ctx) -> int:
        launcher = _launcher()
        try:
            return int(launcher.ensure_server(
                home=cfg.work_home, data_dir=ctx.data_dir, meta_path=ctx.meta_path, ip=ctx.local_ip,
                port=cfg.port, expire_time=cfg.expire_time, alive_time=cfg.alive_time,
                verbose=cfg.verbose, task_file_name=ctx.task_file_name, total_limit=cfg.total_limit,
                verify_later=True))
        except DragonflyError as e:
            raise LaunchServerError(str(e)) from None
        except OSError as e:
            raise LaunchServerError(f"cannot start peer upload server: {e}") from None

    def prestart(self, cfg) -> None:
        """Spawn the server now if one will surely be needed (p2p, supernodes, an explicit --ip);
        `start` then claims it. Never raises: `start` does the real work and error handling."""
        if cfg.pattern != "p2p" or not cfg.nodes or not cfg.ip:
            return
        try:
            _launcher().prespawn(home=cfg.work_home, data_dir=cfg.data_dir, meta_path=cfg.meta_path, ip=cfg.ip,
                                 port=cfg.port, expire_time=cfg.expire_time, alive_time=cfg.alive_time,
                                 verbose=cfg.verbose)
        except Exception as e:  # best effort
            log.debug("no early upload server: %s", e)

    def finish(self, ctx) -> None:
        try:
            _launcher().client_finish(ctx.peer_port, ctx.task_file_name, ctx.task_id, ctx.cid,
                                      ctx.node.addr if ctx.node else "", ip=ctx.local_ip,
                                      client_key=ctx.client_key)
        except Exception as e:  # best effort: the server only learns it may expire the file later
            log.warning("failed to tell the upload server task %s finished: %s", ctx.task_file_name, e)

    def rate(self, ctx, rate: int) -> "int | None":
        try:
            return int(_launcher().request_rate(ctx.peer_port, ctx.task_file_name, rate, ip=ctx.local_ip))
        except Exception as e:
            log.warning("failed to get the shared rate from the upload server: %s", e)
            return None
