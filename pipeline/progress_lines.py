"""Progress as plain lines for a console that is not a terminal: a scheduled job's log, ``cmd > log 2>&1``.

Rich draws its live bars only on a terminal; elsewhere it shows nothing until the work ends, so a cron job's log
says nothing for the minutes (on a CPU, hours) a run takes. There each bar also writes one line when the work
starts, at most one every ``interval_s`` seconds after, and one when it is done, with the ETA the bar would show.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Callable

from rich.console import Console

INTERVAL_S = 30.0  # often enough to see a run is alive, rare enough for a log that covers hours


class ProgressLines:
    """``lines.update(done, total, detail)`` from a bar's own updates; it decides when a line is due."""

    def __init__(self, console: Console, what: str, interval_s: float = INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic):  # fmt: skip
        self.console, self.what, self.interval_s, self.clock = console, what, interval_s, clock
        self.started = self.clock()
        self.printed_at: float | None = None
        self.last: tuple[float, float] | None = None

    def update(self, done: float, total: float, detail: str = "") -> None:
        now = self.clock()
        finished = total > 0 and done >= total
        if self.printed_at is not None and now - self.printed_at < self.interval_s and not finished:
            return
        if finished and self.printed_at is not None and self.last == (done, total):
            return  # the final line once, however often the bar is told it is done
        self.printed_at, self.last = now, (done, total)
        elapsed = now - self.started
        fraction = min(done / total, 1.0) if total > 0 else 0.0
        left = remaining_s(elapsed, done, total)
        eta = "-:--:--" if left is None else _clock_time(left)
        detail = f" {detail}," if detail else ""
        self.console.print(f"{self.what}: {fraction:4.0%}{detail} {_clock_time(elapsed)} elapsed, ETA {eta}",
                           markup=False, highlight=False, soft_wrap=True)  # fmt: skip


def remaining_s(elapsed_s: float, done: float, total: float) -> float | None:
    """Seconds left at the rate so far (what Rich's bar shows as ETA); None before anything is done."""
    if done <= 0 or total <= 0:
        return None
    return elapsed_s * max(total - done, 0.0) / done


def _clock_time(seconds: float) -> str:
    """H:MM:SS, as Rich's time columns write it."""
    return str(timedelta(seconds=max(0, round(seconds))))
