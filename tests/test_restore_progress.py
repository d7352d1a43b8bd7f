"""``ddnm-batch restore`` shows progress with an ETA: over denoising steps, and within a step over the windows of a
large image. The engine calls back; the bar (pipeline/restore_progress.py) only counts."""

from __future__ import annotations

import io

from pipeline_helpers import grey_photo, write_files
from rich.console import Console
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.restore_progress import StepProgress


class Recorder(StepProgress):
    """The real bar, drawn into a string, that also keeps every call it got."""

    def __init__(self, steps: int, samples: int = 1):
        self.out = io.StringIO()
        super().__init__(Console(file=self.out, force_terminal=True, width=150), steps, samples)
        self.calls: list[tuple] = []

    def step(self, info: dict) -> None:
        self.calls.append(("step", info["steps"]))
        super().step(info)

    def windows(self, done: int, total: int) -> None:
        self.calls.append(("windows", done, total))
        super().windows(done, total)


def restore(tiny_model_path: str, size: int, steps: int, samples: int, **sampler) -> Recorder:
    import torch

    import ddnm
    import ddnm.models
    from pipeline import measurement
    from pipeline.decode import decode_image

    torch.manual_seed(0)
    model = ddnm.models.load(tiny_model_path)
    pixels = decode_image(grey_photo(3, size=size), 10**6).samples
    op, y = measurement.build("colorize", "{}", [pixels], None, model.in_channels)
    recorder = Recorder(steps, samples)
    with recorder:
        ddnm.restore(y, op, model, steps=steps, samples=samples, work_size=0, seed=[0], callback=recorder.step,
                     on_windows=recorder.windows, **sampler)  # work size 0: full size
    return recorder


def test_a_tiled_image_reports_every_step_and_every_window_chunk(tiny_model_path):
    recorder = restore(tiny_model_path, size=64, steps=3, samples=2)  # 64x64 on a 32-pixel window: tiled
    steps = [c for c in recorder.calls if c[0] == "step"]
    windows = [c for c in recorder.calls if c[0] == "windows"]
    assert steps == [("step", 3)] * 6  # 3 steps for each of the 2 samples
    total_windows = windows[0][2]
    assert total_windows > 1 and windows[-1] == ("windows", total_windows, total_windows)
    assert sum(1 for c in windows if c[1] == c[2]) == 6  # every step ends with all its windows done
    task = recorder.bar.tasks[0]
    assert task.completed == task.total == 6
    assert "ETA" in recorder.out.getvalue()


def test_the_total_follows_the_sampler_when_time_travel_adds_steps(tiny_model_path):
    recorder = restore(tiny_model_path, size=32, steps=4, samples=1, travel_length=2, travel_repeat=2)
    counts = {c[1] for c in recorder.calls if c[0] == "step"}
    assert len(counts) == 1 and counts.pop() > 4  # the sampler's own count, repeats included
    task = recorder.bar.tasks[0]
    assert task.completed == task.total > 4
    assert not [c for c in recorder.calls if c[0] == "windows"]  # one window: no window progress


def test_restore_command_still_writes_its_one_line_summary(tmp_path, tiny_model_path):
    write_files(tmp_path, {"scan.png": grey_photo(5, size=64)})
    args = ["restore", str(tmp_path / "scan.png"), str(tmp_path / "out.png"), "--op", "colorize", "--model",
            tiny_model_path, "--steps", "2", "--device", "cpu", "--work-size", "0"]  # fmt: skip (full size: windows)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "restored" in result.output and "windows" in result.output and (tmp_path / "out.png").exists()
