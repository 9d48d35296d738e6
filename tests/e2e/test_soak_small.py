"""A short soak (the long one is tests/bench/soak.py): 60 small downloads with short GC timers;
every download is exact, GC removes every task, peer and cache file, and the worker's RSS and fds
stay within tests/bench/soak.py's stated bounds."""

import pytest

from tests.bench.soak import FD_GROWTH_BOUND, RSS_GROWTH_BOUND, run_soak

pytestmark = pytest.mark.e2e


def test_sixty_downloads_leave_nothing_behind(tmp_path):
    report = run_soak(str(tmp_path), downloads=60, size=32 * 1024)
    assert report["failures"] == 0
    assert report["gc_complete"], report
    assert report["after_gc"]["cache_files"] == 0
    assert report["rss_growth"] <= RSS_GROWTH_BOUND, report
    assert report["fd_growth"] <= FD_GROWTH_BOUND, report
