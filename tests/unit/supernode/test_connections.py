"""The socket guard's decisions: per-source budgets and the three read-deadline phases."""

from supernode.core.connections import Deadlines, Phase, ReadDeadline, Shedder, SourceBudget

LIMITS = Deadlines(header_timeout=10, body_timeout=30, idle_timeout=75)


def test_a_new_connection_must_send_its_headers_within_the_header_deadline_however_slowly():
    d = ReadDeadline.accepted(LIMITS, now=100)
    for t in range(101, 110):  # one byte a second does not extend the deadline
        d.received(b"x", now=t)
        assert d.phase is Phase.HEADER
    assert d.remaining(now=109) == 1 and d.remaining(now=110) <= 0


def test_the_body_has_its_own_deadline_from_the_end_of_the_headers():
    d = ReadDeadline.accepted(LIMITS, now=0)
    d.headers_done(now=8)
    d.received(b"x", now=9)
    assert d.phase is Phase.BODY and d.remaining(now=37) == 1


def test_an_idle_keep_alive_connection_waits_for_the_idle_deadline_then_the_header_one_restarts():
    d = ReadDeadline.accepted(LIMITS, now=0)
    d.headers_done(now=1)
    d.response_done(now=2)
    assert d.phase is Phase.IDLE and d.remaining(now=76) == 1
    d.received(b"", now=50)  # nothing read: still idle
    assert d.phase is Phase.IDLE
    d.received(b"G", now=60)  # the next request starts
    assert d.phase is Phase.HEADER and d.remaining(now=69) == 1


def test_a_held_long_poll_reads_nothing_so_only_the_response_ends_its_phase():
    d = ReadDeadline.accepted(LIMITS, now=0)
    d.headers_done(now=1)  # the poll is held 20 s by the handler, no read in between
    d.response_done(now=21)
    assert d.phase is Phase.IDLE and d.remaining(now=21) == 75


def test_each_source_has_its_own_budget_on_each_port():
    b = SourceBudget(limit=2)
    assert b.admit(8002, "10.0.0.9") and b.admit(8002, "10.0.0.9")
    assert not b.admit(8002, "10.0.0.9")
    assert b.admit(8002, "10.0.0.1")  # another source
    assert b.admit(8001, "10.0.0.9")  # the download port counts apart
    b.release(8002, "10.0.0.9")
    assert b.admit(8002, "10.0.0.9")
    for _ in range(5):
        b.release(8001, "10.0.0.9")
    assert b.held(8001, "10.0.0.9") == 0 and (8001, "10.0.0.9") not in b.open  # no residue per source


def test_no_limit_admits_everyone():
    b = SourceBudget(limit=0)
    assert all(b.admit(8002, "10.0.0.9") for _ in range(10000))


def test_the_shedder_closes_the_longest_waiting_connection_only_when_the_pool_is_nearly_full():
    shed = Shedder(capacity=5, reserve=1)
    for name in "abcd":
        assert shed.victim() is None
        shed.accepted(name)
    assert shed.victim() == "a"  # 4 open of 5 with 1 in reserve: make room


def test_busy_connections_are_never_shed_and_a_new_request_is_young_again():
    shed = Shedder(capacity=4, reserve=1)
    for name in "abc":
        shed.accepted(name)
    shed.busy("a")  # a request is being served (or a long poll held)
    assert shed.victim() == "b"
    shed.waits("a")  # its answer went out: waiting again, youngest
    shed.accepted("d")
    assert shed.victim() == "c"
    assert shed.victim() == "a"


def test_a_closed_connection_frees_its_slot():
    shed = Shedder.for_pool(160)  # reserve: 8
    for i in range(152):
        shed.accepted(i)
    shed.closed(0)
    assert shed.victim() is None and shed.open == 151
