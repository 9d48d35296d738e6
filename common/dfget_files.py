"""The files one dfget run leaves on disk, named once for the three programs that meet there:
dfget writes them, the upload server serves `<task file>.service` out of a data directory, and
dfdaemon streams a layer out of whichever of them dfget is writing
(docs/protocol.md#files-on-disk-shared-across-programs).
"""

import posixpath

SERVICE_SUFFIX = ".service"


def make_sign(pid: int, now: float) -> str:
    """`<pid>-<unix seconds with 3 decimals>`, e.g. `31923-1550042443.708`: names one run."""
    return f"{pid}-{now:.3f}"


def task_file_name(output: str, sign: str) -> str:
    """`<basename(output)>-<sign>`."""
    return f"{posixpath.basename(output)}-{sign}"


def service_file_name(task_file: str) -> str:
    """The data-directory file the upload server serves (p2p pattern; pieces land out of order)."""
    return task_file + SERVICE_SUFFIX


def task_name_of(file_name: str) -> str:
    """A data-directory entry's task file name (v1's GetTaskName)."""
    return file_name[: -len(SERVICE_SUFFIX)] if file_name.endswith(SERVICE_SUFFIX) else file_name


def temp_target_prefix(sign: str) -> str:
    """Prefix of the target written next to the output (cdn pattern; pieces out of order)."""
    return f"dfget-{sign}.tmp-"


def back_source_prefix(sign: str) -> str:
    """Prefix of the file a back-to-source download writes next to the output (bytes in order)."""
    return f"backsource.{sign}."
