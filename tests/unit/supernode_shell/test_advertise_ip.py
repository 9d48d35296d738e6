from supernode.netinfo import default_advertise_ip, interface_ipv4_addresses


def test_first_non_loopback_address_wins():
    assert default_advertise_ip(["127.0.0.1", "10.0.0.5", "192.168.1.2"])[0] == "10.0.0.5"


def test_a_loopback_only_host_still_starts_and_says_why():
    ip, why = default_advertise_ip(["127.0.0.1"])
    assert ip == "127.0.0.1" and "no non-loopback" in why
    assert default_advertise_ip([])[0] == "127.0.0.1"


def test_this_host_has_loopback():
    assert "127.0.0.1" in interface_ipv4_addresses()
