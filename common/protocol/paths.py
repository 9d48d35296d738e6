"""Every URL path of the supernode, its download port and the peer upload server."""

# Supernode: legacy peer protocol (docs/protocol.md#supernode-legacy-peer-protocol).
PEER_REGISTRY = "/peer/registry"
PEER_TASK = "/peer/task"
PEER_PIECE_SUC = "/peer/piece/suc"
PEER_PIECE_ERROR = "/peer/piece/error"
PEER_SERVICE_DOWN = "/peer/service/down"
PEER_NETWORK = "/peer/network"
PEER_HEARTBEAT = "/peer/heartbeat"

# Supernode: system.
PING = "/_ping"
VERSION = "/version"
METRICS = "/metrics"
TASK_METRICS = "/task/metrics"

# Supernode: management API (docs/protocol.md#supernode-system-management-and-preheat).
API_V1 = "/api/v1"
API_EXT = "/api/ext"
API_OPENAPI = API_V1 + "/openapi.json"
API_PEERS = API_V1 + "/peers"
API_PEER = API_V1 + "/peers/<peer_id>"
API_TASKS = API_V1 + "/tasks"
API_TASK = API_V1 + "/tasks/<task_id>"
API_PIECE_ERROR = API_V1 + "/tasks/<task_id>/pieces/<piece_range>/error"
API_PEER_NETWORK = API_V1 + "/peer/network"
API_PEER_HEARTBEAT = API_V1 + "/peer/heartbeat"
PREHEATS = "/preheats"
PREHEAT = "/preheats/<preheat_id>"
API_PREHEATS = API_V1 + PREHEATS
API_PREHEAT = API_V1 + PREHEAT

# Supernode download port: the framed CDN file of a task (docs/protocol.md#download-port-downloadport-8001).
DOWNLOAD_PREFIX = "/download"


DOWNLOAD_ROUTE = DOWNLOAD_PREFIX + "/<prefix>/<task_id>"


def cdn_piece_path(task_id: str) -> str:
    return f"{DOWNLOAD_PREFIX}/{task_id[:3]}/{task_id}"


# Peer upload server (docs/protocol.md#peer-upload-server).
PEER_FILE_PREFIX = "/peer/file"
UPLOAD_FILE = PEER_FILE_PREFIX + "/<task_file_name>"
UPLOAD_RATE = "/rate/<task_file_name>"
UPLOAD_CHECK = "/check/<task_file_name>"
UPLOAD_CLIENT_FINISH = "/client/finish"
UPLOAD_PING = "/server/ping"


def peer_file_path(task_file_name: str) -> str:
    return f"{PEER_FILE_PREFIX}/{task_file_name}"


def upload_rate_path(task_file_name: str) -> str:
    return f"/rate/{task_file_name}"


def upload_check_path(task_file_name: str) -> str:
    return f"/check/{task_file_name}"


# dfdaemon's own endpoints (docs/architecture.md#dfdaemon-the-path-of-one-blob); everything else it proxies.
DFDAEMON_ARGS = "/args"
DFDAEMON_ENV = "/env"
DFDAEMON_VERSION = "/debug/version"

# Every route is also served under a version prefix such as /v1.24 (docs/protocol.md#conventions).
VERSION_PREFIX_PATTERN = r"/v[0-9.]+"

# Supernode web console (docs/decisions.md #13): the page and the JSON it polls.
CONSOLE = "/console"
API_CONSOLE_SNAPSHOT = API_V1 + "/console/snapshot"
