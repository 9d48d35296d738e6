"""Layers downloaded inside dfdaemon (no --dfpath): dfget's library against a fake supernode and
piece server, all on 127.0.0.1:0; no dfget process is ever started."""

import os
import random
import threading
from contextlib import ExitStack

import pytest
import requests

from common.dfget_files import make_sign
from common.pieces import MIB
from dfdaemon import settings
from dfdaemon.inprocess import HostPeer
from dfdaemon.server import Daemon
from dfget.services import Services
from tests.integration.dfdaemon.conftest import metric
from tests.integration.dfget.fakes import TASK_ID, FakeSupernode, FakeUploader, piece_app, serve


class Cluster:
    """A fake supernode serving one layer's pieces, and dfdaemons (in-process mode) using it."""

    def __init__(self, tmp_path, registry, data: bytes, stack: ExitStack, sn_class=FakeSupernode, **supernode):
        self.tmp, self.registry, self.data = tmp_path, registry, data
        self.digest = registry.add_blob(data)
        self.pieces = piece_app(data, MIB)
        piece_port = stack.enter_context(serve(self.pieces))
        self.sn = sn_class(data, MIB, piece_port, **supernode)
        self.node = f"127.0.0.1:{stack.enter_context(serve(self.sn.app()))}"
        self.uploaders: list[FakeUploader] = []
        self.daemons: list[Daemon] = []

    def services(self) -> Services:
        up = FakeUploader()
        self.uploaders.append(up)
        return Services(rng=random.Random(7), uploader=up)

    def start(self, peer: "HostPeer | None" = None, **flags) -> Daemon:
        flags = {
            "work_home": str(self.tmp / "home"),
            "registry": self.registry.url,
            "supernodes": [self.node],
            "direct_below": 0,
            **flags,
        }
        cfg = settings.defaults(**flags)
        assert cfg.dfpath == ""  # the default: in-process
        peer = peer or HostPeer(services=self.services, config_files=[str(self.tmp / "none.yml")])
        daemon = Daemon(cfg, ["dfdaemon", "--test"], host_peer=peer)
        daemon.url = f"http://127.0.0.1:{daemon.start('127.0.0.1', 0)}"
        self.daemons.append(daemon)
        return daemon

    @property
    def path(self) -> str:
        return f"/v2/library/x/blobs/{self.digest}"


@pytest.fixture
def cluster(tmp_path, registry):
    with ExitStack() as stack:
        made = []

        def make(data: bytes, **supernode) -> Cluster:
            c = Cluster(tmp_path, registry, data, stack, **supernode)
            made.append(c)
            return c

        yield make
        for c in made:
            for d in c.daemons:
                d.stop()


def test_a_layer_is_fetched_by_pieces_inside_dfdaemon(cluster, registry):
    c = cluster(os.urandom(int(2.5 * MIB)))
    d = c.start()
    r = requests.get(d.url + c.path, headers={"Authorization": "Bearer t0k"}, timeout=30)
    assert r.status_code == 200 and r.content == c.data
    assert r.headers["Docker-Content-Digest"] == c.digest
    [reg] = c.sn.registrations
    assert reg["rawUrl"] == registry.url + c.path and reg["dfdaemon"] is True
    assert "Authorization: Bearer t0k" in reg["headers"]  # the supernode checks this requester
    assert reg["port"] == FakeUploader().port  # the host's upload server is announced
    assert len(c.sn.sucs) == 3 and len(c.pieces.hits) == 3
    assert not registry.seen("GET", c.digest)  # not a byte from the registry
    assert metric(d, 'dragonfly_dfdaemon_layer_requests_total{via="dfget"}') == 1
    assert metric(d, "dragonfly_dfdaemon_fallbacks_total") == 0
    # the finished task was handed to the upload server, and nothing is left but the layer file
    assert [f[1] for f in c.uploaders[0].finished] == [TASK_ID]
    repo = d.cfg.localrepo
    assert len(os.listdir(repo)) == 1


class WithholdingLastPiece(FakeSupernode):
    """Hands out every piece but the last until `gate` is set."""

    def __post_init__(self):
        super().__post_init__()
        self.gate = threading.Event()

    def _pull(self, q) -> dict:
        last = len(self.pieces) - 1
        held = not self.gate.is_set() and last not in self.done and last not in self.running
        if held:
            self.running.add(last)  # looks taken: not handed out
        try:
            return super()._pull(q)
        finally:
            if held:
                self.running.discard(last)


def test_bytes_stream_while_the_in_process_download_runs(cluster):
    c = cluster(os.urandom(int(2.5 * MIB)), sn_class=WithholdingLastPiece)
    d = c.start()
    with requests.get(d.url + c.path, stream=True, timeout=30) as r:
        assert r.status_code == 200 and r.headers["Content-Length"] == str(len(c.data))
        first = r.raw.read(MIB)
        assert first == c.data[:MIB]
        last = len(c.sn.pieces) - 1
        assert [hit for hit in c.pieces.hits if hit[1] == last] == []  # the last piece is still held
        c.sn.gate.set()
        rest = r.raw.read()
    assert first + rest == c.data


def test_every_blob_gets_its_own_sign_and_cid(cluster, registry):
    c = cluster(os.urandom(MIB // 2))
    d = c.start()
    results = {}

    def fetch(path):
        results[path] = requests.get(d.url + path, timeout=30)

    # two repositories, so two URLs and two downloads at once (the fake serves one content)
    paths = [c.path, c.path.replace("/library/x/", "/library/y/")]
    threads = [threading.Thread(target=fetch, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [results[p].status_code for p in paths] == [200, 200]
    assert all(results[p].content == c.data for p in paths)
    cids = [reg["cid"] for reg in c.sn.registrations]
    assert len(cids) == 2 and len(set(cids)) == 2


def test_p2p_failure_goes_back_to_the_source_with_the_requesters_headers(cluster, registry):
    c = cluster(os.urandom(2 * MIB), answer={"code": 610, "msg": "source error"})
    d = c.start()
    r = requests.get(d.url + c.path, headers={"Authorization": "Bearer t0k"}, timeout=30)
    assert r.status_code == 200 and r.content == c.data
    gets = registry.seen("GET", c.digest)
    assert gets and all(("Authorization", "Bearer t0k") in h for _, _, h in gets)
    # dfget's own back-to-source streamed it: dfdaemon did not have to fall back
    assert metric(d, "dragonfly_dfdaemon_fallbacks_total") == 0
    assert metric(d, 'dragonfly_dfdaemon_layer_requests_total{via="dfget"}') == 1


def test_a_bad_dfget_flag_fails_that_blob_only_and_it_comes_from_the_registry(cluster, registry):
    c = cluster(os.urandom(MIB))
    d = c.start(dfget_flags=["--no-such-flag"])
    for _ in range(2):
        r = requests.get(d.url + c.path, timeout=30)
        assert r.status_code == 200 and r.content == c.data
    assert c.sn.registrations == []
    assert metric(d, 'dragonfly_dfdaemon_fallbacks_total{when="before_first_byte"}') == 1
    assert metric(d, 'dragonfly_dfdaemon_layer_requests_total{via="direct"}') == 2


def test_downloads_beyond_the_bound_go_to_the_registry(cluster, registry):
    """One slot: a blob whose download cannot start within the slot wait is fetched directly,
    while the download holding the slot goes on."""
    c = cluster(os.urandom(MIB), answer={"code": 602, "msg": "wait"})  # the first one never ends by P2P
    second = os.urandom(MIB // 4)
    second_digest = registry.add_blob(second)
    d = c.start(
        HostPeer(max_running=1, slot_wait=0.2, services=c.services, config_files=[str(c.tmp / "none.yml")]),
        dfget_flags=["--timeout", "3s", "--notbs"],
    )
    first = {}
    t = threading.Thread(target=lambda: first.update(r=requests.get(d.url + c.path, timeout=60)))
    t.start()
    try:
        # the first download holds the only slot once the supernode has seen it
        deadline = threading.Event()
        for _ in range(200):
            if c.sn.registrations:
                break
            deadline.wait(0.05)
        assert c.sn.registrations
        r = requests.get(d.url + f"/v2/library/x/blobs/{second_digest}", timeout=30)
        assert r.status_code == 200 and r.content == second
        assert len(c.sn.registrations) == 1  # the second never registered
    finally:
        t.join(60)
    assert first["r"].status_code == 200 and first["r"].content == c.data  # direct, after dfget gave up
    assert metric(d, 'dragonfly_dfdaemon_fallbacks_total{when="before_first_byte"}') == 2


def test_signs_are_unique_even_within_one_millisecond():
    peer = HostPeer()
    signs = [make_sign(4242, peer.start_time()) for _ in range(2000)]
    assert len(set(signs)) == len(signs)


def test_blobs_under_one_piece_go_straight_to_the_registry_by_default(cluster, registry):
    c = cluster(os.urandom(MIB))  # one piece and a bit: through P2P
    config = b'{"architecture":"amd64","os":"linux"}'
    config_digest = registry.add_blob(config)
    d = c.start(direct_below=settings.defaults().direct_below)
    r = requests.get(d.url + f"/v2/library/x/blobs/{config_digest}", timeout=30)
    assert r.status_code == 200 and r.content == config
    assert r.headers["Docker-Content-Digest"] == config_digest
    r = requests.get(d.url + c.path, timeout=30)
    assert r.status_code == 200 and r.content == c.data
    assert [reg["rawUrl"].rsplit("/", 1)[1] for reg in c.sn.registrations] == [c.digest]
    assert metric(d, 'dragonfly_dfdaemon_layer_requests_total{via="small"}') == 1
    assert metric(d, 'dragonfly_dfdaemon_layer_requests_total{via="dfget"}') == 1


def test_a_run_nobody_wants_any_more_stops_without_going_to_the_source(cluster, registry, tmp_path):
    """What dfdaemon does when docker went away, or at stop: the run ends (no back-to-source)."""
    c = cluster(os.urandom(MIB), answer={"code": 602, "msg": "wait"})  # P2P never ends by itself
    peer = HostPeer(services=c.services, config_files=[str(tmp_path / "none.yml")])
    done = threading.Event()
    argv = [
        "dfget",
        "-u",
        registry.url + c.path,
        "-o",
        str(tmp_path / "repo" / "out"),
        "--dfdaemon",
        "--home",
        str(tmp_path / "home"),
        "--node",
        c.node,
    ]
    (tmp_path / "repo").mkdir()
    run = peer.run(argv, str(tmp_path / "repo" / "out"), str(tmp_path / "home" / "data"), done.set)
    run.start()
    for _ in range(200):
        if c.sn.registrations and len(c.sn.calls) >= 2:
            break
        threading.Event().wait(0.05)
    assert c.sn.registrations and not run.finished
    run.kill()
    for _ in range(200):
        if run.finished:
            break
        threading.Event().wait(0.05)
    assert run.finished and run.returncode != 0, run.tail()
    assert not registry.seen("GET", c.digest)  # cancelled is not failed: no back-to-source
