"""Every numeric and symbolic code of the v1 protocol (docs/protocol.md#conventions,
docs/architecture.md#scheduling-and-loads, docs/architecture.md#one-download)."""

from enum import Enum, IntEnum


class ResultCode(IntEnum):
    """`code` of the ResultInfo envelope `{"code","msg","data"}` used on /peer/*."""

    SUCCESS = 200
    SYSTEM_ERROR = 500
    PARAM_ERROR = 501
    TARGET_NOT_FOUND = 502
    PEER_FINISH = 600
    PEER_CONTINUE = 601
    PEER_WAIT = 602
    PEER_LIMITED = 603
    SUPER_FAIL = 604
    UNKNOWN_ERROR = 605
    TASK_CONFLICT = 606
    URL_NOT_REACHABLE = 607
    NEED_AUTH = 608
    WAIT_AUTH = 609
    SOURCE_ERROR = 610
    GET_PIECE_REPORT = 611
    GET_PEER_DOWN = 612

    @property
    def default_msg(self) -> str:
        return _DEFAULT_MSG.get(self, "")


_DEFAULT_MSG = {
    ResultCode.SUCCESS: "success",
    ResultCode.SYSTEM_ERROR: "system error",
    ResultCode.PARAM_ERROR: "param is illegal",
    ResultCode.TARGET_NOT_FOUND: "target not found",
    ResultCode.PEER_FINISH: "peer task end",
    ResultCode.PEER_CONTINUE: "peer task go on",
    ResultCode.PEER_WAIT: "peer task wait",
    ResultCode.PEER_LIMITED: "peer down limit",
    ResultCode.SUPER_FAIL: "super node sync source fail",
    ResultCode.UNKNOWN_ERROR: "unknown error",
    ResultCode.TASK_CONFLICT: "task conflict",
    ResultCode.URL_NOT_REACHABLE: "url is not reachable",
    ResultCode.NEED_AUTH: "need auth",
    ResultCode.WAIT_AUTH: "wait auth",
}


class PieceResult(IntEnum):
    """`result` a client reports for the piece it last fetched."""

    FAIL = 500
    SUCCESS = 501
    INVALID = 502
    SEMISUC = 503


class TaskStatus(IntEnum):
    """`status` a client reports for its own download."""

    START = 700
    RUNNING = 701
    FINISH = 702


class PieceStatus(IntEnum):
    """Internal piece states of the supernode's progress bitsets (docs/architecture.md#scheduling-and-loads)."""

    SEMISUC = -3
    WAITING = -1
    RUNNING = 0
    SUCCESS = 1
    FAILED = 2


class CdnStatus(str, Enum):
    WAITING = "WAITING"
    RUNNING = "RUNNING"
    FAILED = "FAILED"
    SUCCESS = "SUCCESS"
    SOURCE_ERROR = "SOURCE_ERROR"


class DfgetTaskStatus(str, Enum):
    WAITING = "WAITING"
    RUNNING = "RUNNING"
    FAILED = "FAILED"
    SUCCESS = "SUCCESS"


class ClientErrorType(str, Enum):
    """`errorType` of a /peer/piece/error report."""

    FILE_NOT_EXIST = "FILE_NOT_EXIST"
    FILE_MD5_NOT_MATCH = "FILE_MD5_NOT_MATCH"


class CdnSource(str, Enum):
    """`cdnSource` of the registration answer: framed CDN pieces or raw source ranges."""

    SUPERNODE = "supernode"
    SOURCE = "source"


class BackSourceReason(IntEnum):
    """Why dfget went to the source (docs/architecture.md#one-download). NOT_BACK_SOURCE_OFFSET is added under
    --notbs."""

    NONE = 0
    REGISTER_FAIL = 1
    MD5_NOT_MATCH = 2
    DOWNLOAD_ERROR = 3
    NO_SPACE = 4
    INIT_ERROR = 5
    WRITE_ERROR = 6
    HOST_SYS_ERROR = 7
    NODE_EMPTY = 8
    SOURCE_ERROR = 10
    USER_SPECIFIED = 100


NOT_BACK_SOURCE_OFFSET = 1000
