"""dfget's exceptions. Each names its v1 error class (docs/operations.md#exit-codes); status.py maps them to exits."""

from common.errors import DragonflyError

CODE_LAUNCH_SERVER = 1100
CODE_PREPARE = 1101
CODE_GET_USER = 1102
CODE_REGISTER = 1103
CODE_DOWNLOAD = 1104


class DfgetError(DragonflyError):
    """Root of dfget's errors; `code` is v1's internal error class."""

    code = CODE_DOWNLOAD


class UsageError(DfgetError):
    """Bad flags, URL or output path: the user's fault (exit 1, no result line)."""

    code = 1


class LaunchServerError(DfgetError):
    code = CODE_LAUNCH_SERVER


class PrepareError(DfgetError):
    """Work home, temp files or directories could not be created."""

    code = CODE_PREPARE


class GetUserError(DfgetError):
    code = CODE_GET_USER


class RegisterError(DfgetError):
    """The supernode demands authentication (608): no point going back to the source."""

    code = CODE_REGISTER


class DownloadError(DfgetError):
    """Neither P2P nor the source produced the file."""

    code = CODE_DOWNLOAD


class P2PFailure(DfgetError):
    """The P2P attempt failed; `reason` is the back-source reason (docs/architecture.md#one-download)."""

    def __init__(self, reason: int, message: str):
        self.reason = int(reason)
        super().__init__(message)


class SourceFailure(DfgetError):
    """The back-to-source download failed."""


class PieceFailure(DfgetError):
    """One piece could not be fetched or is corrupt; `error_type` says what to report."""

    def __init__(self, message: str, error_type: str = "", real_md5: str = "", expected_md5: str = ""):
        self.error_type = error_type
        self.real_md5 = real_md5
        self.expected_md5 = expected_md5
        super().__init__(message)
