"""dfget's exit statuses and the one place that maps errors to them (docs/operations.md#exit-codes, decisions).

v1 exits with its internal error classes 1100-1104, which the OS truncates to 8 bits
(`code & 0xFF`): launch server 1100 -> 76, prepare 1101 -> 77, get user 1102 -> 78,
register 1103 -> 79 (only "need auth"), download 1104 -> 80. We exit with those same
truncated values, so scripts written against v1 see identical numbers. Usage and validation
errors (bad flag, URL, rate, duration, output path) exit 1; success 0.
"""

from enum import IntEnum

from common.errors import BadInput, ConfigError
from dfget import errors


class ExitStatus(IntEnum):
    SUCCESS = 0
    USAGE = 1
    LAUNCH_SERVER = errors.CODE_LAUNCH_SERVER & 0xFF  # 76
    PREPARE = errors.CODE_PREPARE & 0xFF  # 77
    GET_USER = errors.CODE_GET_USER & 0xFF  # 78
    REGISTER = errors.CODE_REGISTER & 0xFF  # 79
    DOWNLOAD = errors.CODE_DOWNLOAD & 0xFF  # 80


_BY_CODE = {
    errors.CODE_LAUNCH_SERVER: ExitStatus.LAUNCH_SERVER,
    errors.CODE_PREPARE: ExitStatus.PREPARE,
    errors.CODE_GET_USER: ExitStatus.GET_USER,
    errors.CODE_REGISTER: ExitStatus.REGISTER,
    errors.CODE_DOWNLOAD: ExitStatus.DOWNLOAD,
}


def error_code(error: BaseException) -> int:
    """v1's internal error class of an error (1 for usage errors)."""
    if isinstance(error, (errors.UsageError, ConfigError, BadInput)):
        return 1
    if isinstance(error, errors.DfgetError):
        return error.code
    return errors.CODE_DOWNLOAD


def exit_status(error: "BaseException | None") -> ExitStatus:
    if error is None:
        return ExitStatus.SUCCESS
    code = error_code(error)
    return ExitStatus.USAGE if code == 1 else _BY_CODE.get(code, ExitStatus.DOWNLOAD)
