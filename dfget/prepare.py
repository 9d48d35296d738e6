"""Preparation of a run (docs/architecture.md#one-download): output validation, directories, temp target, local IP,
names."""

import logging
import os
import socket
import tempfile

from common.dfget_files import task_file_name, temp_target_prefix
from common.nodes import Node
from common.urls import filter_url
from dfget.context import RunContext
from dfget.core.naming import default_output_name, make_cid
from dfget.errors import PrepareError, UsageError

log = logging.getLogger(__name__)
PROBE_TIMEOUT = 1.0


def resolve_output(cfg, cwd: "str | None" = None) -> str:
    """The absolute output path; UsageError if it is a directory or cannot be written."""
    output = cfg.output or default_output_name(cfg.url)
    if not output:
        raise UsageError(f"output: cannot derive a file name from {cfg.url!r}, please give -o/--output")
    path = os.path.abspath(os.path.join(cwd or os.getcwd(), output))
    if os.path.isdir(path) or cfg.output.endswith(os.sep):
        raise UsageError(f"output: {path} is a directory")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise UsageError(f"output: {path} is not writable")
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UsageError(f"output: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"output: no write permission in {parent}")
    return path


def local_ip(nodes: "list[Node]", timeout: float = PROBE_TIMEOUT) -> str:
    """The local address of the first TCP connection that succeeds to a supernode ('' if none)."""
    for node in nodes:
        try:
            with socket.create_connection((node.host, node.port), timeout=timeout) as s:
                return s.getsockname()[0]
        except OSError as e:
            log.error("Connect to node:%s error: %s", node.addr, e)
    return ""


def prepare(cfg, output: str, sign: str, started: float, order: "list[Node]") -> RunContext:
    """Create the directories and the temp target, find the local IP, name everything."""
    target_dir = os.path.dirname(output)
    data_dir = cfg.data_dir
    try:
        for d in (target_dir, os.path.dirname(cfg.meta_path), cfg.work_home, data_dir):
            os.makedirs(d, exist_ok=True)
        fd, temp_target = tempfile.mkstemp(prefix=temp_target_prefix(sign), dir=target_dir)
        os.fchmod(fd, 0o644)
        os.close(fd)
    except OSError as e:
        raise PrepareError(f"{e.filename or ''}: {e.strerror}" if e.strerror else str(e)) from None
    ip = cfg.ip or local_ip(order)
    ctx = RunContext(
        sign=sign,
        started=started,
        output=output,
        temp_target=temp_target,
        data_dir=data_dir,
        meta_path=cfg.meta_path,
        local_ip=ip,
        cid=make_cid(ip, sign),
        task_file_name=task_file_name(output, sign),
        task_url=filter_url(cfg.url, list(cfg.filters)),
        pattern=cfg.pattern,
    )
    log.info(
        "target file path:%s, runtime: cid=%s taskFileName=%s taskURL=%s",
        output,
        ctx.cid,
        ctx.task_file_name,
        ctx.task_url,
    )
    return ctx
