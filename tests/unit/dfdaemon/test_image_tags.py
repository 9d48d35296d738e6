from dfdaemon.image_tags import RecentTags

DIGEST = "sha256:" + "cd" * 32


class Clock:
    now = 100.0

    def __call__(self):
        return self.now


def test_the_last_tag_of_a_repository_names_its_layers_until_it_expires():
    clock = Clock()
    tags = RecentTags(clock=clock, ttl=60)
    tags.saw("http://reg/v2/library/alpine/manifests/3.19")
    tags.saw("http://reg/v2/library/alpine/manifests/sha256:" + "e" * 64)  # by digest: keeps the tag
    assert tags.display_name(f"http://reg/v2/library/alpine/blobs/{DIGEST}") == "library/alpine:3.19"
    assert tags.display_name(f"http://other/v2/library/alpine/blobs/{DIGEST}") == "library/alpine"
    clock.now += 61
    assert tags.display_name(f"http://reg/v2/library/alpine/blobs/{DIGEST}") == "library/alpine"
    assert tags.display_name("http://reg/file.bin") == ""


def test_the_table_is_bounded():
    tags = RecentTags(clock=Clock(), capacity=3)
    for i in range(10):
        tags.saw(f"http://reg/v2/repo{i}/manifests/v{i}")
    assert len(tags._tags) == 3
    assert tags.display_name(f"http://reg/v2/repo9/blobs/{DIGEST}") == "repo9:v9"
    assert tags.display_name(f"http://reg/v2/repo0/blobs/{DIGEST}") == "repo0"
