"""dfdaemon's view of a service file dfget is writing: the prefix stops at pieces whose bytes are
in but not checked yet (docs/decisions.md #25, dfdaemon/follow.py)."""

from common.dfget_files import flight_file_name, service_file_name
from common.shell.flight import FlightWriter
from dfdaemon.follow import GrowingFile

MIB = 1 << 20
NAME = "layer-1-2.3"


def test_the_prefix_stops_at_a_piece_in_flight_or_failed_and_stays_put_once_the_download_ends(tmp_path):
    service = tmp_path / service_file_name(NAME)
    service.write_bytes(b"")
    flight = FlightWriter(str(tmp_path / flight_file_name(NAME)))
    f = GrowingFile(str(service))
    service.write_bytes(b"a" * (3 * MIB))  # pieces 0-2 in; piece 1 still arriving
    first = flight.begin(1, MIB, MIB)
    flight.progress(1, first, MIB)
    assert f.contiguous() == MIB
    flight.failed(1, first)
    assert f.contiguous() == MIB  # failed bytes are no better
    again = flight.begin(1, MIB, MIB)
    flight.progress(1, again, MIB)
    flight.done(1, again)
    assert f.contiguous() == 3 * MIB
    third = flight.begin(3, 3 * MIB, MIB)
    with open(service, "ab") as out:
        out.write(b"b" * 1000)  # the start of piece 3
    flight.progress(3, third, 1000)
    assert f.contiguous() == 3 * MIB
    flight.close()  # the download ended (here: failed) and the flight file is gone
    assert f.contiguous() == 3 * MIB  # never grows into bytes nobody checked
    f.close()


def test_a_service_file_without_a_flight_file_is_followed_as_before(tmp_path):
    service = tmp_path / service_file_name(NAME)
    service.write_bytes(b"a" * MIB)
    f = GrowingFile(str(service))
    assert f.contiguous() == MIB
    f.close()
