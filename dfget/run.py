"""`run(config) -> ExitStatus`: one dfget download, from validation to the result line."""

import logging
import os
from datetime import datetime

from common.dfget_files import make_sign
from common.shell import logs
from common.urls import filter_url
from dfget.core import lines
from dfget.errors import DfgetError, DownloadError, UsageError
from dfget.prepare import resolve_output
from dfget.services import Services
from dfget.settings import DfgetConfig
from dfget.status import ExitStatus, error_code, exit_status

log = logging.getLogger(__name__)


def _setup_logging(cfg: DfgetConfig, sign: str) -> None:
    try:
        logs.setup(
            cfg.log_path,
            sign=sign,
            verbose=cfg.verbose,
            console=cfg.console,
            max_bytes=cfg.log_max_size * 1024 * 1024,
            backups=cfg.log_max_backups,
        )
    except OSError:
        logs.setup("", sign=sign, verbose=cfg.verbose, console=cfg.console)


def run(cfg: DfgetConfig, services: "Services | None" = None) -> ExitStatus:
    svc = services or Services()
    started = svc.clock.time()
    try:
        output = resolve_output(cfg)
    except UsageError as e:
        svc.echo_err(f"Error: {e}")
        return ExitStatus.USAGE
    sign = make_sign(svc.pid, started)
    if svc.configure_logging:
        _setup_logging(cfg, sign)
    log.info(
        "get init config: url=%s output=%s pattern=%s nodes=%s",
        cfg.url,
        output,
        cfg.pattern,
        ",".join(n.addr for n in cfg.nodes),
    )
    svc.echo(lines.start_line(datetime.fromtimestamp(started), cfg.url))
    from dfget.session import Session

    session = Session(cfg, svc, sign, output, started, filter_url(cfg.url, list(cfg.filters)))
    error = None
    try:
        session.execute()
    except DfgetError as e:
        error = e
    except Exception as e:  # a bug: say so in the log, fail like v1 would, no traceback
        log.exception("unexpected error")
        error = DownloadError(str(e))
    cost = svc.clock.time() - started
    length = session.file_length
    if error is None and length < 0 and os.path.isfile(output):
        length = os.path.getsize(output)
    if error is None:
        line = lines.success_line(cost, length, session.reason)
    else:
        line = lines.fail_line(error_code(error), cost, length, session.reason, str(error))
    log.info(line)
    svc.echo(line)
    return exit_status(error)
