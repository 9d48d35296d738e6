"""Scenario: an operator opens the supernode's web console in a real (headless) browser while
image layers are being downloaded by several hosts, and sees the swarm graph, the throughput
chart, the image name and per-task progress; with an apiToken the browser logs in with it.
The screenshot is checked where the DOM says the figures are. Needs Debian's `chromium`."""

import hashlib
import os
import re
import shutil
import subprocess
import threading

import pytest

from common.protocol.messages import HEADER_DISPLAY_NAME
from tests.support import png
from tests.support.procs import start_supernode
from tests.support.v1client import V1Client

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--virtual-time-budget=8000",
    "--window-size=1280,900",
    "--force-device-scale-factor=1",
    "--hide-scrollbars",
]
HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")  # claimed addresses: three hosts to the supernode
SUPERNODE_BLUE = (0x27, 0x64, 0xC5)


def chromium() -> "str | None":
    return shutil.which("chromium") or shutil.which("chromium-browser")


def run_browser(tmp_path, *args, timeout=90) -> str:
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)  # its own session: the browser's helpers go with it
            proc.wait(timeout=10)
    return out.decode(errors="replace")


@pytest.fixture
def browser():
    if chromium() is None:
        msg = "chromium is not installed (apt-get install -y chromium): skipping the console browser e2e"
        print(msg)
        pytest.skip(msg)


def layer(origin, repo: str, size: int) -> str:
    data = os.urandom(size)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    folder = origin.root / "v2" / repo / "blobs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / digest).write_bytes(data)
    return f"{origin.url}/v2/{repo}/blobs/{digest}"


def box_of(dom: str, element_id: str) -> "tuple[int, int, int, int]":
    tag = re.search(rf'<svg[^>]*id="{element_id}"[^>]*>', dom).group(0)
    return tuple(int(v) for v in re.search(r'data-box="([0-9,]+)"', tag).group(1).split(","))


def status_of(dom: str) -> str:
    m = re.search(r'<div id="status">([^<]*)</div>', dom)
    return m.group(1) if m else dom[:2000]


def close(colour, wanted, tolerance=40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, wanted, strict=False))


def test_console_draws_the_swarm_the_throughput_and_progress(browser, supernode, origin, tmp_path):
    url = layer(origin, "library/alpine", 24 * 1024 * 1024)
    results = {}

    def download(ip):
        client = V1Client(
            supernode.api_url, ip=ip, name="console", headers=[f"{HEADER_DISPLAY_NAME}: library/alpine:3.19"]
        )
        results[ip] = client.download(url, timeout=60)[0]

    # a hostile host's name is dropped, never shown: the page would otherwise have an <img>
    V1Client(
        supernode.api_url, ip="127.0.0.9", headers=[f"{HEADER_DISPLAY_NAME}: <img src=x onerror=alert(1)>"]
    ).register(url)
    workers = [threading.Thread(target=download, args=(ip,), daemon=True) for ip in HOSTS]
    for w in workers:
        w.start()
    page = f"{supernode.api_url}/console"
    dom = run_browser(tmp_path, "--dump-dom", page)
    for w in workers:
        w.join(90)
    shot = tmp_path / "console.png"
    run_browser(tmp_path, f"--screenshot={shot}", page)  # after the downloads: the same hosts, drawn
    print(f"console screenshot: {shot}")
    assert all(len(results.get(ip) or b"") == 24 * 1024 * 1024 for ip in HOSTS)

    # the DOM: the image name, progress, the graph's nodes and edges, the series
    assert "library/alpine:3.19" in dom and url in dom
    assert "<img" not in dom and "onerror" not in dom
    assert 'class="cell done"' in dom and 'class="bar' in dom
    assert 'data-node="supernode"' in dom
    assert all(f'data-node="{ip}"' in dom for ip in HOSTS)
    assert any(f'data-edge="supernode&gt;{ip}"' in dom or f'data-edge="supernode>{ip}"' in dom for ip in HOSTS)
    assert re.search(r'class="area supernode" data-kind="supernode"', dom)
    assert re.search(r'<div id="status">\d+ tasks, \d+ hosts, updated', dom), status_of(dom)

    # the screenshot: the figures are drawn where the DOM says they are
    done_dom = run_browser(tmp_path, "--dump-dom", page)
    width, height, rows = png.decode(shot.read_bytes())
    gx, gy, gw, gh = box_of(done_dom, "swarm")
    nodes = re.findall(r'data-node="([^"]+)" data-x="(\d+)" data-y="(\d+)"', done_dom)
    assert len(nodes) >= 1 + len(HOSTS)
    for key, x, y in nodes:  # every node's centre is filled (not the white page)
        colour = png.pixel(rows, gx + int(x), gy + int(y))
        assert colour != (255, 255, 255), (key, colour)
    assert close(png.pixel(rows, gx + gw // 2, gy + gh // 2), SUPERNODE_BLUE)  # the supernode, centred
    tx, ty, tw, th = box_of(done_dom, "throughput")
    colours = png.colours_in(rows, (tx, ty, tw, th))
    blue = sum(n for c, n in colours.items() if close(c, SUPERNODE_BLUE, 10))
    assert blue > 50, sorted(colours.items(), key=lambda kv: -kv[1])[:5]  # the supernode's area is painted
    assert width == 1280 and height == 900


def test_with_an_api_token_the_browser_logs_in_with_it(browser, origin, tmp_path):
    proc, api, _ = start_supernode(
        str(tmp_path / "home"),
        str(tmp_path / "supernode.out"),
        env={**os.environ, "SUPERNODE_API_TOKEN": "s3cret-token"},
    )
    try:
        url = layer(origin, "team/app", 2 * 1024 * 1024)
        V1Client(f"http://127.0.0.1:{api}", headers=[f"{HEADER_DISPLAY_NAME}: team/app:v1"]).download(url)
        refused = run_browser(tmp_path, "--dump-dom", f"http://127.0.0.1:{api}/console")
        logged_in = run_browser(tmp_path, "--dump-dom", f"http://operator:s3cret-token@127.0.0.1:{api}/console")
    finally:
        proc.stop()
    assert "team/app:v1" not in refused and "Dragonfly supernode" not in refused
    assert "team/app:v1" in logged_in and status_of(logged_in).startswith("1 tasks"), status_of(logged_in)
