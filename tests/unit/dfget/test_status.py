import pytest

from common.errors import BadInput, ConfigError
from dfget import errors
from dfget.status import ExitStatus, error_code, exit_status


def test_v1_classes_exit_with_their_truncated_values():
    assert [int(s) for s in ExitStatus] == [0, 1, 76, 77, 78, 79, 80]
    assert [c & 0xFF for c in (1100, 1101, 1102, 1103, 1104)] == [76, 77, 78, 79, 80]


@pytest.mark.parametrize(
    "error,status,code",
    [
        (None, ExitStatus.SUCCESS, None),
        (errors.UsageError("x"), ExitStatus.USAGE, 1),
        (ConfigError({"url": "bad"}), ExitStatus.USAGE, 1),
        (BadInput("x"), ExitStatus.USAGE, 1),
        (errors.LaunchServerError("x"), ExitStatus.LAUNCH_SERVER, 1100),
        (errors.PrepareError("x"), ExitStatus.PREPARE, 1101),
        (errors.GetUserError("x"), ExitStatus.GET_USER, 1102),
        (errors.RegisterError("x"), ExitStatus.REGISTER, 1103),
        (errors.DownloadError("x"), ExitStatus.DOWNLOAD, 1104),
        (RuntimeError("bug"), ExitStatus.DOWNLOAD, 1104),
    ],
)
def test_one_mapping_from_errors_to_exit_statuses(error, status, code):
    assert exit_status(error) is status
    if error is not None:
        assert error_code(error) == code
