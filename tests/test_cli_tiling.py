"""`--tile-overlap` on the command line: it reaches the windows, and a bad value is refused with one line before
anything loads."""

from __future__ import annotations

import numpy as np
from pipeline_helpers import pixels, rgb_photo
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.commands._settings_options import OPTIONS, settings_from


def _restore(folder, model: str, name: str, *options: str):
    out = folder / f"{name}.png"
    args = ["restore", str(folder / "wide.png"), str(out), "--op", "denoise", "--sigma-y", "0.2", "--model", model,
            "--steps", "3", "--device", "cpu", *options]  # fmt: skip
    return CliRunner().invoke(app, args), out


def test_the_overlap_option_builds_the_settings_the_tiler_gets():
    values = {p.name: p.default for _, _, p in OPTIONS}
    assert settings_from(values).tiles.overlap == 16 and settings_from(values).tiles.strategy == "joint"
    assert settings_from({**values, "tile_overlap": 8}).tiles.overlap == 8


def test_the_overlap_changes_a_large_scan_and_a_bad_one_is_refused(tmp_path, tiny_model_path):
    (tmp_path / "wide.png").write_bytes(rgb_photo(5, 56))  # wider than the tiny model's 32-px window
    result, default = _restore(tmp_path, tiny_model_path, "default")
    assert result.exit_code == 0, result.output
    result, narrow = _restore(tmp_path, tiny_model_path, "narrow", "--tile-overlap", "4")
    assert result.exit_code == 0, result.output
    assert np.abs(pixels(default) - pixels(narrow)).max() > 0  # other windows, another blend: the option arrived
    result, again = _restore(tmp_path, tiny_model_path, "again", "--tile-overlap", "4")
    np.testing.assert_array_equal(pixels(narrow), pixels(again))
    result, refused = _restore(tmp_path, tiny_model_path, "refused", "--tile-overlap", "-1")
    assert result.exit_code == 2 and "overlap" in result.output
    assert "Traceback" not in result.output and not refused.exists()
