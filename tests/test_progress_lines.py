"""Where the console is not a terminal (a scheduled job's log), progress is a line at start, at most one every
half minute, and one at the end, with the ETA (pipeline/progress_lines.py); on a terminal the Rich bar alone."""

from __future__ import annotations

import io

from rich.console import Console

from pipeline.progress_lines import ProgressLines
from pipeline.restore_progress import StepProgress


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def log_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=200), out


def test_lines_are_throttled_and_carry_the_eta():
    console, out = log_console()
    clock = Clock()
    lines = ProgressLines(console, "restoring", interval_s=30, clock=clock)
    lines.update(0, 100)  # the start: a line at once, so the log shows the run is alive
    for done in range(1, 100):
        clock.now += 1.0  # one item a second: 99 updates in 99 s
        lines.update(done, 100, f"{done}/100 images")
    clock.now += 1.0
    lines.update(100, 100, "100/100 images")
    lines.update(100, 100, "100/100 images")  # told twice it is done: one final line
    text = out.getvalue().splitlines()
    assert len(text) == 1 + 3 + 1, text  # start, at 30 / 60 / 90 s, the end
    assert text[0] == "restoring:   0% 0:00:00 elapsed, ETA -:--:--"
    assert text[1] == "restoring:  30% 30/100 images, 0:00:30 elapsed, ETA 0:01:10"  # 70 left at 1 a second
    assert text[-1] == "restoring: 100% 100/100 images, 0:01:40 elapsed, ETA 0:00:00"


def test_a_terminal_gets_the_bar_and_no_lines():
    out = io.StringIO()
    progress = StepProgress(Console(file=out, force_terminal=True, width=150), steps=2)
    assert progress.lines is None


def test_restore_progress_writes_lines_into_a_log():
    console, out = log_console()
    with StepProgress(console, steps=4, samples=1) as progress:
        progress.windows(3, 6)
        for _ in range(4):
            progress.step({"steps": 4})
    text = out.getvalue().splitlines()
    assert text[0].startswith("restoring:   0% step 0/4,") and text[-1].startswith("restoring: 100% step 4/4,")
    assert len(text) == 2  # the steps came faster than the interval: the start and the end only
