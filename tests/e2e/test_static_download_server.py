"""`downloadServer: external` with a real nginx on the download port
(docs/operations.md#an-external-download-server-nginx):
a v1-style client downloads through it, every piece range nginx serves equals what the builtin
download server serves for the same task, a credentialed task is never laid out, and removing
a task withdraws its file; v1's Go dfget fetches a credentialed file through it. Skipped when
nginx (or, for the Go dfget, the v1 binaries) is not installed."""

import os
import shutil
import stat
import subprocess

import pytest
import requests

from tests.support.dfget_runs import end_pids, upload_server_pids
from tests.support.procs import Proc, free_port, supernode_argv, wait_until
from tests.support.v1client import V1Client

pytestmark = pytest.mark.e2e
MIB = 1024 * 1024
NGINX_CONF = """worker_processes 1; daemon off; user root root; pid {d}/nginx.pid; error_log {d}/error.log;
events {{}}
http {{ access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{ listen 127.0.0.1:{port}; location / {{ root {root}; }} }} }}
"""


@pytest.fixture
def external(tmp_path, ended_by_pid):
    """Our supernode with SUPERNODE_DOWNLOAD_SERVER=external, and nginx over <home>/repo on its download port."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx)")
    home, api, download = tmp_path / "ext", free_port(), free_port()
    proc = ended_by_pid(
        Proc(
            supernode_argv("supernode", home, api, download),
            log_path=str(tmp_path / "ext.out"),
            env={"SUPERNODE_DOWNLOAD_SERVER": "external"},
        )
    )

    def api_up():
        assert proc.alive(), proc.output()
        return requests.get(f"http://127.0.0.1:{api}/_ping", timeout=1).ok

    wait_until(api_up, 30, "the external-mode supernode's API")
    d = tmp_path / "nginx"
    d.mkdir()
    (d / "nginx.conf").write_text(NGINX_CONF.format(d=d, port=download, root=home / "repo"))
    web = ended_by_pid(
        Proc(
            [nginx, "-c", str(d / "nginx.conf"), "-p", str(d), "-e", str(d / "error.log")], log_path=str(d / "out.log")
        )
    )

    def nginx_up():
        assert web.alive(), web.output()
        return requests.get(f"http://127.0.0.1:{download}/", timeout=1).status_code in (403, 404)

    wait_until(nginx_up, 30, "nginx")

    class External:
        api_url, download_url, home_dir = f"http://127.0.0.1:{api}", f"http://127.0.0.1:{download}", home

    return External


def _file(base: str, task_id: str) -> str:
    return f"{base}/download/{task_id[:3]}/{task_id}"


def test_nginx_serves_exactly_the_builtin_pieces_and_nothing_private(supernode, external, origin):
    content = os.urandom(5 * MIB + 123)
    (origin.root / "five.bin").write_bytes(content)
    url = origin.url + "/five.bin"
    got_builtin, _ = V1Client(supernode.api_url).download(url)
    client = V1Client(external.api_url)
    got_external, _ = client.download(url)  # its pieces came from nginx
    assert got_builtin == content and got_external == content
    task_id = client.register(url)["data"]["taskId"]
    piece_size = client.register(url)["data"]["pieceSize"]
    size = int(requests.head(_file(supernode.download_url, task_id), timeout=10).headers["Content-Length"])
    assert size > 5 * MIB and piece_size == MIB
    for start in range(0, size, piece_size):
        rng = {"Range": f"bytes={start}-{start + piece_size - 1}"}
        ours = requests.get(_file(supernode.download_url, task_id), headers=rng, timeout=10)
        theirs = requests.get(_file(external.download_url, task_id), headers=rng, timeout=10)
        assert ours.status_code == theirs.status_code == 206 and ours.content == theirs.content, start

    # only a link lives in the served tree; the store, .meta (the URL) and .md5 are private
    tree = external.home_dir / "repo" / "download"
    assert sorted(p.name for p in tree.rglob("*") if p.is_file()) == [task_id]
    assert stat.S_IMODE(tree.stat().st_mode) == 0o711
    assert stat.S_IMODE((external.home_dir / "cdn").stat().st_mode) == 0o700
    assert requests.get(_file(external.download_url, task_id) + ".meta", timeout=10).status_code == 404

    # a credentialed task is fetched from the source by its clients, never laid out
    private = client.register(origin.url + "/five.bin?x=1", headers=["Authorization: Bearer s3cret"])
    assert private["code"] == 200 and private["data"]["cdnSource"] == "source", private
    assert requests.get(_file(external.download_url, private["data"]["taskId"]), timeout=10).status_code == 404
    assert not list((external.home_dir / "cdn").rglob(private["data"]["taskId"] + "*"))

    # removing the task withdraws its file from the static tree
    assert requests.delete(f"{external.api_url}/api/v1/tasks/{task_id}?full=true", timeout=10).status_code == 200
    wait_until(
        lambda: requests.get(_file(external.download_url, task_id), timeout=10).status_code == 404,
        10,
        "the laid-out file to be withdrawn",
    )


def test_v1_go_dfget_with_credentials_fetches_source_ranges_and_nothing_is_laid_out(
    tmp_path, external, origin, go_dfget
):
    """v1's dfget checks that the download port answers, then fetches the source ranges itself
    with its own headers (cdnSource: source)."""
    content = os.urandom(3 * MIB + 5)
    (origin.root / "private.bin").write_bytes(content)
    node = external.api_url.split("//")[1]
    done = subprocess.run(
        [
            go_dfget,
            "-u",
            origin.url + "/private.bin",
            "-o",
            str(tmp_path / "out.bin"),
            "--node",
            node,
            "--home",
            str(tmp_path / "go-home"),
            "--header",
            "Authorization: Bearer abc",
            "--notbs",
            "--port",
            str(free_port()),
            "--alivetime",
            "10s",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    try:
        assert done.returncode == 0 and "download SUCCESS" in done.stdout, done.stdout + done.stderr
        assert (tmp_path / "out.bin").read_bytes() == content
        with open(tmp_path / "go-home" / "logs" / "dfclient.log") as f:
            assert '"cdnSource":"source"' in f.read()
        assert not [p for p in (external.home_dir / "repo" / "download").rglob("*") if p.is_file()]
        assert not [p for p in (external.home_dir / "cdn" / "download").rglob("*") if p.is_file()]
    finally:
        end_pids(upload_server_pids(str(tmp_path / "go-home")))
