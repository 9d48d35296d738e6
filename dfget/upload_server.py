"""dfget's side of the local peer upload server (docs/architecture.md#the-upload-servers-life-cycle): find or start it,
tell it about
finished tasks, ask it for this task's share of --totallimit.

The server itself lives in dfget/uploader/; it is imported lazily so that a missing or broken
uploader only turns the p2p pattern into the cdn pattern (docs/architecture.md#a-registration-post-peerregistry).
"""

import logging

from common.errors import DragonflyError
from dfget.errors import LaunchServerError

log = logging.getLogger(__name__)

REGISTERED_WAIT = 2.0  # s: how long a report to the server waits for a just-started server


def _launcher():
    try:
        from dfget.uploader import launcher
    except ImportError as e:
        raise LaunchServerError(f"peer upload server unavailable: {e}") from None
    return launcher


class UploadServer:
    """Adapter over dfget.uploader.launcher for one dfget run; every method is safe to call and
    never raises except `start`, which raises LaunchServerError."""

    def __init__(self):
        self._started = None

    def start(self, cfg, ctx, on_failure=None) -> int:
        """The port to announce; `on_failure(message)` if a server started here never comes up."""
        launcher = _launcher()
        try:
            self._started = launcher.ensure_server(
                home=cfg.work_home,
                data_dir=ctx.data_dir,
                meta_path=ctx.meta_path,
                ip=ctx.local_ip,
                port=cfg.port,
                expire_time=cfg.expire_time,
                alive_time=cfg.alive_time,
                verbose=cfg.verbose,
                task_file_name=ctx.task_file_name,
                total_limit=cfg.total_limit,
                on_failure=on_failure,
            )
        except DragonflyError as e:
            raise LaunchServerError(str(e)) from None
        except OSError as e:
            raise LaunchServerError(f"cannot start peer upload server: {e}") from None
        return self._started.port

    @property
    def streams_pieces(self) -> bool:
        """The server streams a piece still arriving (docs/decisions.md #25): one of ours that says so."""
        return self._started is not None and self._started.streams_pieces

    def _registered(self) -> bool:
        return self._started is not None and self._started.wait_registered(REGISTERED_WAIT)

    def finish(self, ctx) -> None:
        if not self._registered():
            log.warning("the upload server never registered task %s: not reporting it finished", ctx.task_file_name)
            return
        try:
            _launcher().client_finish(
                ctx.peer_port,
                ctx.task_file_name,
                ctx.task_id,
                ctx.cid,
                ctx.node.addr if ctx.node else "",
                ip=ctx.local_ip,
                client_key=ctx.client_key,
            )
        except Exception as e:  # noqa: BLE001 - best effort: the server only learns it may expire the file later
            log.warning("failed to tell the upload server task %s finished: %s", ctx.task_file_name, e)

    def rate(self, ctx, rate: int) -> "int | None":
        if not self._registered():
            return None
        try:
            return int(_launcher().request_rate(ctx.peer_port, ctx.task_file_name, rate, ip=ctx.local_ip))
        except Exception as e:  # noqa: BLE001 - without the shared rate the download keeps its own
            log.warning("failed to get the shared rate from the upload server: %s", e)
            return None
