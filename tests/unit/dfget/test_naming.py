from common import dfget_files
from common.protocol.messages import is_supernode_cid
from dfget.core import naming


def test_sign_cid_and_task_file_name_follow_v1():
    sign = dfget_files.make_sign(31923, 1550042443.7081)
    assert sign == "31923-1550042443.708"
    assert naming.make_cid("127.0.0.1", sign) == "127.0.0.1-31923-1550042443.708"
    assert dfget_files.task_file_name("/tmp/test/b.test", "96414-1549104994.143") == "b.test-96414-1549104994.143"
    assert dfget_files.service_file_name("b.test-1-2.000") == "b.test-1-2.000.service"


def test_sign_pads_milliseconds():
    assert dfget_files.make_sign(1, 1600000000.0) == "1-1600000000.000"


def test_default_output_is_the_last_path_segment():
    assert naming.default_output_name("http://h/a/b/c.tar.gz?x=1") == "c.tar.gz"
    assert naming.default_output_name("http://h/") == ""
    assert naming.default_output_name("http://h") == ""


def test_temp_names():
    assert dfget_files.temp_target_prefix("1-2.000") == "dfget-1-2.000.tmp-"
    assert dfget_files.back_source_prefix("1-2.000") == "backsource.1-2.000."
    assert is_supernode_cid("cdnnode:10.0.0.1~abc") and not is_supernode_cid("10.0.0.1-1-2.0")
