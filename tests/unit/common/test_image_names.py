from common import image_names as names

DIGEST = "sha256:" + "ab" * 32


def test_a_layer_url_names_its_repository_and_digest():
    assert names.blob_of(f"https://registry-1.docker.io/v2/library/alpine/blobs/{DIGEST}") == ("library/alpine", DIGEST)
    assert names.blob_of(f"/v2/a/b/c/blobs/{DIGEST}") == ("a/b/c", DIGEST)
    assert names.blob_of("https://example.com/file.tar") is None
    assert names.manifest_of("http://r:5000/v2/library/alpine/manifests/3.19") == ("library/alpine", "3.19")


def test_the_fallback_name_is_repository_and_short_digest():
    assert names.name_from_url(f"http://r/v2/library/alpine/blobs/{DIGEST}") == "library/alpine@sha256:" + "ab" * 6
    assert names.name_from_url("http://r/plain.bin") == ""


def test_only_image_references_of_bounded_length_are_accepted():
    assert names.clean_display_name(" library/alpine:3.19 ") == "library/alpine:3.19"
    assert names.clean_display_name("team/app@sha256:abcdef") == "team/app@sha256:abcdef"
    for hostile in (
        "<script>alert(1)</script>",
        'a"onload=x',
        "app:tag with space",
        "a" * 161,
        "x/../y",
        "ímage",
        "a:b\nc",
        "",
        "UPPER/case",
    ):
        assert names.clean_display_name(hostile) == "", hostile
    assert names.clean_display_name("a" * 160) == "a" * 160


def test_a_layer_display_name_drops_a_tag_that_is_not_one():
    assert names.layer_display_name("library/alpine", "3.19") == "library/alpine:3.19"
    assert names.layer_display_name("library/alpine", "sha256:" + "a" * 64) == "library/alpine"
    assert names.layer_display_name("library/alpine") == "library/alpine"
