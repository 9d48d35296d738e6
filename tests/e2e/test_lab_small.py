"""A small lab scenario in network namespaces: origin, supernode and 4 dfget peers, each a namespace
on one bridge, shaped both ways (tests/bench/lab). Runs only as root with `ip netns`; the lab
blackholes its subnet in the root namespace first and refuses to run if it cannot.

Asserts what must hold on any machine (no timing): every peer ends with the origin's exact bytes,
the origin served the file once (the CDN fetched it; peers got it from the supernode and each
other), and the supernode sent clearly fewer than v1's ~2 copies (super-seeding; see the bound's comment).
"""
import os
import shutil

import pytest

from tests.bench.lab.netlab import available

_ok, _why = available()
for _tool in ("curl", "nsenter"):
    if _ok and not shutil.which(_tool):
        _ok, _why = False, f"`{_tool}` is not installed"

pytestmark = [pytest.mark.e2e, pytest.mark.lab,
              pytest.mark.skipif(not _ok, reason=f"lab scenario needs root and network namespaces: {_why}")]

MiB = 1 << 20


def test_lab_small_flash_crowd(tmp_path):
    from tests.bench.lab.scenarios import run
    os.chmod(tmp_path, 0o755)
    size = 16 * MiB
    cfg = dict(n=4, size=size, u=50, d=50, u_origin=50, u_sn=50, scenario="flash", seed=3, spread=0,
               cap=120)
    r = run("dfget", cfg, str(tmp_path / "lab"))

    assert r["failures"] == 0, [(p["ip"], p["exit"]) for p in r["peers"]]
    assert [p["sha256"] for p in r["peers"]] == [r["origin_sha256"]] * 4
    # the origin's own byte counter: the file body went out exactly once
    assert sum(r["origin_stats"]["bytes"].values()) == size, r["origin_stats"]
    # and on the wire (origin's bridge port: body + HTTP/TCP overhead)
    assert size <= r["ports"]["origin"]["sent"] <= 1.1 * size, r["ports"]["origin"]
    # the peers got every byte, from the supernode or from each other
    got = r["metrics"]["dragonfly_supernode_pieces_downloaded_size_bytes_total"] + \
        r["metrics"]["dragonfly_supernode_pieces_downloaded_from_peers_size_bytes_total"]
    assert got >= 4 * size
    # super-seeding: the supernode's piece bytes (framing included) stay well under the ~2 copies
    # v1's scheduler sent. The lab benchmark's target is 1.1 F; in this 4-host, 16-piece crowd a
    # fresh machine gave 1.0-1.69 F over runs (2 of 5 above 1.1 F, also before the 2026-12-02
    # merges), so the tight bound is a benchmark figure here, not a pass/fail mechanism check.
    from_supernode = r["metrics"]["dragonfly_supernode_pieces_downloaded_size_bytes_total"]
    assert from_supernode < 1.9 * size, from_supernode / size
