"""SIGINT and SIGTERM during a run: stop new work, record what finished, then exit.

Inside :func:`stop_on_signals` the first SIGINT or SIGTERM raises :class:`RunInterrupted` in the run's
thread; the run's ``finally`` blocks then flush the ledger (:meth:`pipeline.sink.MetadataSink.close`) and
stop a local Ray. Further signals are ignored until that is done, so a second Ctrl-C cannot cut the
last ledger write short (it is bounded by the storage retry budget). Ray's own driver handler would
``sys.exit`` instead, also through the ``finally`` blocks, but without saying what happened.
Signal handlers belong to the main thread; elsewhere (a test runs a job in a thread) this does nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(BaseException):
    """Raised by the first SIGINT/SIGTERM; a BaseException, like KeyboardInterrupt, so that no
    ``except Exception`` on the way turns it into an error row."""

    def __init__(self, signum: int):
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum
        self.exit_code = 128 + signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM
        self.recorded, self.out_uri = 0, ""


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def handler(signum, frame) -> None:
        if not fired:
            fired.append(signum)
            raise RunInterrupted(signum)

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
