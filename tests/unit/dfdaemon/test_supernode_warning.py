"""dfdaemon says so when its --node answers nowhere (P2P off), instead of silently going direct."""

from dfdaemon.cli import supernode_warning


def test_no_warning_when_one_supernode_answers_or_none_is_configured():
    assert supernode_warning(("10.0.0.1:8002", "10.0.0.2=2"), lambda h, p: h == "10.0.0.2") == ""
    assert supernode_warning((), lambda h, p: False) == ""


def test_a_warning_naming_every_address_when_none_answers():
    asked = []
    line = supernode_warning(("sn1:9000=1", "sn2"), lambda h, p: asked.append((h, p)) or False)
    assert asked == [("sn1", 9000), ("sn2", 8002)]
    assert "P2P is off" in line and "sn1:9000, sn2:8002" in line and "--node" in line
