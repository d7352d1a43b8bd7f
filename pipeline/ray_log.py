"""Ray's own output goes to a log file while a job runs; the user's terminal shows only the CLI's lines.

Ray writes to the process's standard streams from Python (its loggers write to whatever ``sys.stderr`` is at
the time: the token-auth notice, Ray Data's notes) and from C++ (the core worker's ``E`` lines, straight to file
descriptor 2), and the Ray processes it starts inherit those descriptors. So, for the duration of the job,
descriptors 1 and 2 point at the log file, and the CLI draws its progress bar on a copy of the original
stderr. Nothing is hidden: the log keeps everything, and a failure is reported by the CLI in one line that
names the log (``ddnm-batch run`` prints its path in the summary too).

The log is a new file in the temporary folder, ``ddnm-batch-ray-<UTC time>-*.log``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class RayLog:
    path: str  # where Ray's output goes
    terminal: TextIO  # the user's stderr, for the progress bar


def log_path_for(out_uri: str) -> str:
    """A new local file for this run's Ray output, in the temporary folder (never in OUT: OUT is checked and
    written by the run itself, and may be remote)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    handle, path = tempfile.mkstemp(prefix=f"ddnm-batch-ray-{stamp}-", suffix=".log")
    os.close(handle)
    return path


@contextlib.contextmanager
def ray_output_to_log(out_uri: str) -> Iterator[RayLog]:
    """Point descriptors 1 and 2 at the log for the duration; yields the log path and the terminal stream."""
    path = log_path_for(out_uri)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    real_stderr = _fileno(sys.stderr) == 2
    # Under a test harness sys.stderr is a buffer, not descriptor 2: the bar goes there, as before.
    terminal = os.fdopen(os.dup(saved[2]), "w", buffering=1, encoding="utf-8") if real_stderr else sys.stderr
    log = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for fd in (1, 2):
            os.dup2(log, fd)
        yield RayLog(path, terminal)
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(log)
        if terminal is not sys.stderr:
            terminal.close()


def _fileno(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None
