"""Per-run facts: who we are, where the files are, which supernode we talk to.

The config (settings.DfgetConfig) says what was asked and never changes; this object records
what the run found out and decided (local IP, chosen node, task id, back-source reason...).
"""

import os
from dataclasses import dataclass, field

from common.dfget_files import flight_file_name, service_file_name
from common.nodes import Node
from common.protocol.codes import BackSourceReason, CdnSource
from common.protocol.messages import RegisterResult


@dataclass
class RunContext:
    sign: str
    started: float
    output: str  # absolute real target
    temp_target: str  # empty file next to the output (probe and write target)
    data_dir: str
    meta_path: str
    local_ip: str
    cid: str
    task_file_name: str
    task_url: str
    pattern: str  # p2p may become cdn if no upload server starts
    peer_port: int = 0
    node: Node | None = None
    task_id: str = ""
    file_length: int = -1
    piece_size: int = 0
    cdn_source: str = CdnSource.SUPERNODE.value
    back_source_reason: int = BackSourceReason.NONE
    registered: bool = False
    client_key: str = ""  # the registration's secret (passed on to the upload server)
    streams_pieces: bool = False  # our upload server streams pieces still arriving (decisions #25)
    extra: dict = field(default_factory=dict)

    @property
    def holds_asks(self) -> bool:
        """The supernode speaks our extensions (it issued a client key), so it holds a `wait` ask
        open until it has work for us (docs/decisions.md #1); a v1 supernode answers at once."""
        return bool(self.client_key)

    @property
    def target_dir(self) -> str:
        return os.path.dirname(self.output)

    @property
    def client_file(self) -> str:
        return os.path.join(self.data_dir, self.task_file_name)

    @property
    def service_file(self) -> str:
        return os.path.join(self.data_dir, service_file_name(self.task_file_name))

    @property
    def flight_file(self) -> str:
        return os.path.join(self.data_dir, flight_file_name(self.task_file_name))

    def adopt(self, node: Node, result: RegisterResult) -> None:
        """Record a successful registration."""
        self.node = node
        self.task_id = result.task_id
        self.file_length = result.file_length
        self.piece_size = result.piece_size
        self.cdn_source = result.cdn_source or CdnSource.SUPERNODE.value
        self.client_key = result.client_key
        self.registered = True
