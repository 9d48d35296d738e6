"""Which tag each layer belongs to, as far as dfdaemon can tell (docs/operations.md#console).

A pull asks for `/v2/<repo>/manifests/<tag>` before it asks for the layers; the layer requests
themselves name only the repository and a digest. So dfdaemon remembers, per registry and
repository, the last *tag* requested (a manifest fetched by digest keeps the tag the pull
started with) and names a layer `<repo>:<tag>` — or just `<repo>` when no tag was seen within
TAG_TTL. Two tags of one repository pulled at once may swap names: the name is a hint for the
console, never used to decide anything. The table is bounded (MAX_REPOSITORIES, oldest dropped).
"""

import threading
import time
from collections import OrderedDict
from urllib.parse import urlsplit

from common.image_names import blob_of, is_tag, layer_display_name, manifest_of

MAX_REPOSITORIES = 512
TAG_TTL = 600.0


class RecentTags:
    def __init__(self, clock=time.monotonic, capacity: int = MAX_REPOSITORIES, ttl: float = TAG_TTL):
        self._clock, self._capacity, self._ttl = clock, capacity, ttl
        self._tags: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def saw(self, url: str) -> None:
        """Note a manifest request (anything else is ignored)."""
        found = manifest_of(url)
        if found is None or not is_tag(found[1]):
            return
        key = (_host(url), found[0])
        with self._lock:
            self._tags[key] = (found[1], self._clock())
            self._tags.move_to_end(key)
            while len(self._tags) > self._capacity:
                self._tags.popitem(last=False)

    def display_name(self, url: str) -> str:
        """The name to announce for a layer URL; "" when the URL names no layer."""
        blob = blob_of(url)
        if blob is None:
            return ""
        with self._lock:
            tag, when = self._tags.get((_host(url), blob[0]), ("", 0.0))
        if tag and self._clock() - when > self._ttl:
            tag = ""
        return layer_display_name(blob[0], tag)


def _host(url: str) -> str:
    try:
        return urlsplit(url).netloc.lower()
    except ValueError:
        return ""
