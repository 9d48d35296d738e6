"""The files one dfget run leaves on disk, named once for the three programs that meet there:
dfget writes them, the upload server serves `<task file>.service` out of a data directory, and
dfdaemon streams a layer out of whichever of them dfget is writing; `<task file>.flight` says
which pieces of the service file are still arriving (common/flight.py)
(docs/protocol.md#files-on-disk-shared-across-programs).
"""

import posixpath

SERVICE_SUFFIX = ".service"
FLIGHT_SUFFIX = ".flight"


def make_sign(pid: int, now: float) -> str:
    """`<pid>-<unix seconds with 3 decimals>`, e.g. `31923-1550042443.708`: names one run."""
    return f"{pid}-{now:.3f}"


def task_file_name(output: str, sign: str) -> str:
    """`<basename(output)>-<sign>`."""
    return f"{posixpath.basename(output)}-{sign}"


def service_file_name(task_file: str) -> str:
    """The data-directory file the upload server serves (p2p pattern; pieces land out of order)."""
    return task_file + SERVICE_SUFFIX


def flight_file_name(task_file: str) -> str:
    """The data-directory file beside the service file that says which pieces are still
    arriving, and how far (common/flight.py; exists only while dfget downloads)."""
    return task_file + FLIGHT_SUFFIX


def flight_file_of(service_path: str) -> "str | None":
    """The flight file beside a service file at `service_path` (None for any other file)."""
    if not service_path.endswith(SERVICE_SUFFIX):
        return None
    return service_path[: -len(SERVICE_SUFFIX)] + FLIGHT_SUFFIX


def task_name_of(file_name: str) -> str:
    """A data-directory entry's task file name (v1's GetTaskName, which knew `.service` only)."""
    for suffix in (SERVICE_SUFFIX, FLIGHT_SUFFIX):
        if file_name.endswith(suffix):
            return file_name[: -len(suffix)]
    return file_name


def temp_target_prefix(sign: str) -> str:
    """Prefix of the target written next to the output (cdn pattern; pieces out of order)."""
    return f"dfget-{sign}.tmp-"


def back_source_prefix(sign: str) -> str:
    """Prefix of the file a back-to-source download writes next to the output (bytes in order)."""
    return f"backsource.{sign}."
