"""How one file preheat fills the CDN.

InProcessFetcher (default): registers a supernode-internal client for the URL through the
service — exactly what a dfget's /peer/registry does, so the one atomic CDN trigger, the source
probe, the credential checks and the metrics all apply — then waits for the task's CDN build and
signs the client off. No dfget process, no output file, no copy: the pieces land in the CDN
cache once, where every later client of that task is served from.

DfgetFetcher (`preheatDfgetPath` set): v1's way, a `dfget` subprocess against this supernode;
its output file is recorded and deleted when the preheat record expires.

HopRestricted wraps either: while it runs, the CDN checks every hop of every fetch of the
preheat's URL (redirects included) against preheatAllow as well as sourceAllow.
"""

import logging
import os
import subprocess
import time
import uuid
from dataclasses import dataclass

from common.protocol.codes import CdnStatus, ResultCode
from common.protocol.messages import RegisterRequest, ServiceDownRequest
from supernode import layout
from supernode.errors import NotFound

log = logging.getLogger(__name__)
CALL_SYSTEM = "dragonfly_preheat"
_FAILED = (CdnStatus.FAILED.value, CdnStatus.SOURCE_ERROR.value)


@dataclass(frozen=True)
class FetchResult:
    ok: bool
    error: str = ""
    outputs: "tuple[str, ...]" = ()
    task_id: str = ""


class InProcessFetcher:
    def __init__(self, service, *, timeout: float, poll: float = 0.2, sleep=time.sleep, monotonic=time.monotonic):
        self.service, self.timeout, self.poll = service, timeout, poll
        self._sleep, self._monotonic = sleep, monotonic

    def __call__(self, spec, preheat_id: str) -> FetchResult:
        ip = self.service.advertise_ip
        cid = f"{ip}-preheat-{preheat_id[:32]}"
        req = RegisterRequest(
            raw_url=spec.url,
            task_url=spec.task_url,
            cid=cid,
            ip=ip,
            host_name="preheat",
            path=f"/preheat/{preheat_id}",
            version="preheat",
            identifier=spec.identifier,
            call_system=CALL_SYSTEM,
            headers=spec.headers.lines(),
            pattern="cdn",
        )
        answer = self.service.register(req, ip)
        if answer.code != ResultCode.SUCCESS:
            return FetchResult(False, f"register refused: code={answer.code} {answer.msg}")
        task_id = answer.data.task_id
        log.info("preheat registered preheat=%s task=%s url=%s", preheat_id, task_id, spec.url)
        try:
            return self._wait(task_id)
        finally:
            try:
                self.service.service_down(ServiceDownRequest(task_id=task_id, cid=cid))
            except NotFound:
                pass

    def _wait(self, task_id: str) -> FetchResult:
        deadline = self._monotonic() + self.timeout
        while True:
            try:
                status = self.service.get_task(task_id).cdn_status
            except NotFound:
                return FetchResult(False, f"task {task_id} was removed before its CDN build ended", task_id=task_id)
            if status == CdnStatus.SUCCESS.value:
                return FetchResult(True, task_id=task_id)
            if status in _FAILED:
                return FetchResult(False, f"cdn build {status} for task {task_id}", task_id=task_id)
            if self._monotonic() >= deadline:
                return FetchResult(False, f"cdn build not done after {self.timeout:g}s", task_id=task_id)
            self._sleep(self.poll)


class DfgetFetcher:
    def __init__(
        self,
        dfget_path: str,
        *,
        home_dir: str,
        api_port: int,
        timeout: float,
        run=subprocess.run,
        download_server: str = layout.BUILTIN,
    ):
        self.dfget_path, self.api_port, self.timeout, self._run = dfget_path, api_port, timeout, run
        self.out_dir = layout.preheat_dir(home_dir, download_server)

    def argv(self, spec, output: str) -> "list[str]":
        argv = [
            self.dfget_path,
            "-u",
            spec.url,
            "-o",
            output,
            "--callsystem",
            CALL_SYSTEM,
            "--totallimit",
            "25M",
            "-s",
            "25M",
            "--node",
            f"127.0.0.1:{self.api_port}",
        ]
        for k, v in spec.headers.items():
            argv += ["--header", f"{k}:{v}"]
        if spec.filter:
            argv += ["-f", spec.filter]
        if spec.identifier:
            argv += ["-i", spec.identifier]
        return argv

    def __call__(self, spec, preheat_id: str) -> FetchResult:
        os.makedirs(self.out_dir, exist_ok=True)
        output = os.path.join(self.out_dir, uuid.uuid4().hex)
        try:
            proc = self._run(self.argv(spec, output), capture_output=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            return FetchResult(False, f"dfget timed out after {self.timeout:g}s", (output,))
        except OSError as e:
            return FetchResult(False, f"cannot run {self.dfget_path}: {e}", (output,))
        if proc.returncode == 0:
            return FetchResult(True, outputs=(output,))
        tail = (proc.stdout or b"")[-300:] + (proc.stderr or b"")[-300:]
        return FetchResult(
            False, f"dfget exit status {proc.returncode}: {tail.decode(errors='replace').strip()}", (output,)
        )


class HopRestricted:
    def __init__(self, fetcher, restrict, patterns):
        self.fetcher, self._restrict, self._patterns = fetcher, restrict, tuple(patterns)

    def __call__(self, spec, preheat_id: str) -> FetchResult:
        with self._restrict(spec.url, self._patterns):
            return self.fetcher(spec, preheat_id)
