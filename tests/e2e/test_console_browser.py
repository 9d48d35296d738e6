"""Scenario: an operator opens the supernode's web console in a real (headless) browser while a
download runs, and sees the task, its CDN piece map and the peers. Needs Debian's `chromium`."""
import os
import shutil
import subprocess
import threading

import pytest

from tests.support.v1client import V1Client

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                  "--virtual-time-budget=8000", "--window-size=1280,1400"]


def chromium() -> "str | None":
    return shutil.which("chromium") or shutil.which("chromium-browser")


def run_browser(tmp_path, *args, timeout=60) -> str:
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    proc = subprocess.Popen([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)      # its own session: the browser's helpers go with it
            proc.wait(timeout=10)
    return out.decode(errors="replace")


@pytest.fixture
def browser():
    if chromium() is None:
        msg = "chromium is not installed (apt-get install -y chromium): skipping the console browser e2e"
        print(msg)
        pytest.skip(msg)


def test_console_shows_a_running_download(browser, supernode, origin, tmp_path):
    (origin.root / "big.bin").write_bytes(os.urandom(24 * 1024 * 1024))
    url = f"{origin.url}/big.bin"
    result = {}

    def download():
        result["data"] = V1Client(supernode.api_url, name="console").download(url, timeout=60)[0]
    worker = threading.Thread(target=download, daemon=True)
    worker.start()
    page = f"{supernode.api_url}/console"
    dom = run_browser(tmp_path, "--dump-dom", page)
    shot = tmp_path / "console.png"
    run_browser(tmp_path, f"--screenshot={shot}", page)
    worker.join(60)
    print(f"console screenshot: {shot}")
    assert url in dom, dom[:2000]
    assert "supernode (CDN)" in dom            # the selected task's piece map was drawn
    assert 'class="cell done"' in dom
    assert "tasks, " in dom and "loading..." not in dom
    assert shot.exists() and shot.stat().st_size > 1000
    assert result.get("data") is not None and len(result["data"]) == 24 * 1024 * 1024
