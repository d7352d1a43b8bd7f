"""A Rich progress bar with an ETA for ``ddnm-batch restore``: over denoising steps, and within a step over the
windows of a large image (one step of a big scan can take minutes on a CPU).

The engine only calls back (``ddnm.samplers.sample_ddnm``'s ``callback`` after each step, with the run's step
count; ``ddnm.tiling.model.TiledModel``'s ``on_windows`` after each chunk of windows); drawing is done here. Where
the console is not a terminal (a log file) the same progress is written as a line every half minute
(:mod:`pipeline.progress_lines`).
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .progress_lines import ProgressLines


class StepProgress:
    """``with StepProgress(console, steps, samples) as progress: restore_samples(..., progress=progress)``.

    ``steps`` is the requested step count, the first estimate of the total; the sampler's first callback gives
    the real count (a warm start makes fewer steps, time-travel more), and the total follows it.
    """

    def __init__(self, console: Console, steps: int, samples: int = 1):
        self.samples, self.per_sample = samples, steps
        self.steps_done = 0
        self.bar = Progress(
            TextColumn("restoring"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("step {task.fields[step]}/{task.fields[steps]}{task.fields[windows]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.task = self.bar.add_task("restore", total=self.total, step=0, steps=self.total, windows="")
        self.lines = None if console.is_terminal else ProgressLines(console, "restoring")

    @property
    def total(self) -> int:
        return self.per_sample * self.samples

    def __enter__(self) -> StepProgress:
        if self.lines is None:
            self.bar.start()
        self._line(0, 0, "")
        return self

    def __exit__(self, *exc_info) -> None:
        if self.lines is None:  # a log gets lines only: Rich would add a blank line (or its last frame) on stop
            self.bar.stop()

    def step(self, info: dict) -> None:
        """``sample_ddnm``'s callback: one denoising step done."""
        self.per_sample = int(info.get("steps", self.per_sample))
        self.steps_done += 1
        self.bar.update(self.task, total=self.total, completed=self.steps_done, step=self.steps_done,
                        steps=self.total, windows="")  # fmt: skip
        self._line(self.steps_done, self.steps_done, "")

    def windows(self, done: int, total: int) -> None:
        """``TiledModel``'s ``on_windows``: ``done`` of ``total`` windows of the current step are denoised."""
        completed = self.steps_done + min(done / total, 1.0)
        self.bar.update(self.task, completed=completed, step=self.steps_done + 1, windows=f", window {done}/{total}")
        self._line(completed, self.steps_done + 1, f", window {done}/{total}")

    def _line(self, completed: float, step: int, windows: str) -> None:
        if self.lines is not None:
            self.lines.update(completed, self.total, f"step {step}/{self.total}{windows}")
