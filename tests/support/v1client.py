"""A protocol client that behaves exactly like a v1.0.x dfget on the wire (no long-poll, JSON
keys as v1 sends them, one report per /peer/task call), for end-to-end tests of the supernode."""

import hashlib
import os
import random
import time

import requests

from common import pieces


class V1Client:
    def __init__(
        self,
        api: str,
        *,
        ip: str = "127.0.0.1",
        port: int = 0,
        name: str = "client",
        headers: "list[str] | None" = None,
    ):
        self.api = api.rstrip("/")
        self.headers = list(headers or [])  # the registration's `headers` ("K: V")
        self.ip, self.port = ip, port
        self.sign = f"{os.getpid()}-{time.time():.3f}-{random.randrange(10**6)}"
        self.cid = f"{ip}-{self.sign}"
        self.task_file_name = f"{name}-{self.sign}"
        self.http = requests.Session()

    def register(self, url: str, **extra) -> dict:
        body = {
            "superNodeIp": "127.0.0.1",
            "rawUrl": url,
            "taskUrl": url,
            "cid": self.cid,
            "ip": self.ip,
            "hostName": "localhost",
            "port": self.port,
            "path": f"/peer/file/{self.task_file_name}",
            "version": "1.0.6",
            "callSystem": "e2e",
            "headers": self.headers,
            **extra,
        }
        return self.http.post(f"{self.api}/peer/registry", json=body, timeout=10).json()

    def pull(self, task_id: str, *, status=700, result=502, piece_range="", dst_cid="") -> dict:
        # v1 sends these keys in this order and does not escape the values
        query = (
            f"srcCid={self.cid}&dstCid={dst_cid}&range={piece_range}&result={result}&status={status}&taskId={task_id}"
        )
        return self.http.get(f"{self.api}/peer/task?{query}", timeout=30).json()

    def fetch_piece(self, piece: dict) -> bytes:
        url = f"http://{piece['peerIp']}:{piece['peerPort']}{piece['path']}"
        headers = {
            "Range": f"bytes={piece['range']}",
            "pieceNum": str(piece["pieceNum"]),
            "pieceSize": str(piece["pieceSize"]),
            "User-Agent": "dfget/1.0.6",
        }
        resp = self.http.get(url, headers=headers, timeout=30)
        assert resp.status_code == 206, (resp.status_code, resp.text[:200])
        body = resp.content
        expected_md5 = piece["pieceMd5"].split(":")[0]
        assert hashlib.md5(body).hexdigest() == expected_md5, f"piece {piece['pieceNum']} md5 mismatch"
        return bytes(pieces.unframe(body, piece["pieceSize"]))

    def download(self, url: str, timeout: float = 60) -> "tuple[bytes, dict]":
        """Register, pull every piece (as v1 does: report each outcome on the next pull), return
        the assembled bytes and the 600 answer's data."""
        reg = self.register(url)
        assert reg["code"] == 200, reg
        task_id, size = reg["data"]["taskId"], reg["data"]["pieceSize"]
        payload = size - pieces.META_SIZE
        got: dict[int, bytes] = {}
        reports = [dict(status=700, result=502)]
        deadline = time.monotonic() + timeout
        backoff = 0.05
        while time.monotonic() < deadline:
            answer = self.pull(task_id, **reports.pop(0)) if reports else self.pull(task_id, status=701, result=502)
            code = answer["code"]
            if code == 600:
                data = b"".join(got[n] for n in sorted(got))
                assert sorted(got) == list(range(len(got))), "pieces missing"
                return data, answer["data"]
            if code == 601:
                for piece in answer.get("data") or []:
                    got[piece["pieceNum"]] = self.fetch_piece(piece)
                    assert len(got[piece["pieceNum"]]) <= payload
                    self.http.get(
                        f"{self.api}/peer/piece/suc",
                        params={
                            "taskId": task_id,
                            "cid": self.cid,
                            "dstCid": piece["cid"],
                            "pieceRange": piece["range"],
                        },
                        timeout=10,
                    )
                    reports.append(dict(status=701, result=503, piece_range=piece["range"], dst_cid=piece["cid"]))
                continue
            if code == 602:
                time.sleep(backoff)
                backoff = min(backoff * 2, 0.8)
                continue
            raise AssertionError(f"unexpected answer {answer}")
        raise TimeoutError("download did not finish")
