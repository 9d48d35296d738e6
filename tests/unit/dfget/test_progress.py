from dfget.core.progress import human_bytes, human_seconds, render


def test_units():
    assert human_bytes(0) == "0B" and human_bytes(1536) == "1.5KiB" and human_bytes(5 << 30) == "5.0GiB"
    assert human_seconds(5) == "5s" and human_seconds(75) == "1m15s" and human_seconds(3700) == "1h01m"


def test_render_known_total():
    line = render(512 << 10, 1 << 20, 2.0, width=10)
    assert line == " 50% [=====>    ] 512.0KiB/1.0MiB 256.0KiB/s eta 2s"
    assert render(1 << 20, 1 << 20, 1.0, width=4, final=True) == "100% [====] 1.0MiB/1.0MiB 1.0MiB/s in 1s"


def test_render_unknown_total_and_no_time():
    assert "10B" in render(10, -1, 0.0) and "eta" not in render(10, 0, 0.0)
    assert "eta --" in render(0, 100, 0.0)
