"""Where the supernode keeps its files under `homeDir` (docs/protocol.md#files-on-disk-shared-across-programs).

`<home>/repo/download/<taskId[0:3]>/<taskId>` is v1's place for a task's framed CDN file, and the
download port serves exactly those paths. With `downloadServer: builtin` the CDN's store *is*
that tree. With `external` a static server (nginx) serves everything under `<home>/repo` to
anyone, so nothing private may live there: the store (data, `.meta` with the source URL, `.md5`)
and preheat outputs move to `<home>/cdn`, mode 0700, and `<home>/repo/download` holds only hard
links to the data files of registered public tasks (supernode/cdn/static_tree.py).
"""

import os

BUILTIN = "builtin"
EXTERNAL = "external"


def static_root(home_dir: str) -> str:
    """v1's download tree: the paths the download port serves."""
    return os.path.join(home_dir, "repo", "download")


def private_home(home_dir: str) -> str:
    """What only the supernode may read when a static server serves <home>/repo."""
    return os.path.join(home_dir, "cdn")


def store_root(home_dir: str, download_server: str) -> str:
    """The CDN's own files: data, .meta and .md5 per task."""
    if download_server == EXTERNAL:
        return os.path.join(private_home(home_dir), "download")
    return static_root(home_dir)


def preheat_dir(home_dir: str, download_server: str) -> str:
    """Outputs of preheats run through a dfget subprocess."""
    if download_server == EXTERNAL:
        return os.path.join(private_home(home_dir), "preheat")
    return os.path.join(home_dir, "repo", "preheat")
