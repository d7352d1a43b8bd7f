"""`run` and `submit` take the job options that JobSettings declares, once, with its defaults and checks."""

from __future__ import annotations

from dataclasses import MISSING, fields

import pytest
import typer
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.commands._job_options import AS_TEXT
from pipeline.settings import JobSettings


def _options(name: str) -> dict[str, object]:
    """The command's options by parameter name, as Click sees them."""
    command = typer.main.get_command(app).commands[name]
    return {p.name: p for p in command.params}


def _job_fields(run_only: bool | None = None):
    return [f for f in fields(JobSettings) if "help" in f.metadata
            and (run_only is None or bool(f.metadata.get("run_only")) == run_only)]  # fmt: skip


def test_every_documented_job_field_is_an_option_of_run_with_its_default_and_help():
    run = _options("run")
    assert len(_job_fields()) >= 12
    for f in _job_fields():
        option = run[f.name]
        default = AS_TEXT[f.name][1] if f.name in AS_TEXT else f.default
        assert default is not MISSING and option.default == default, f.name
        assert option.help == f.metadata["help"]


def test_submit_takes_the_same_job_options_but_not_the_local_ray_ones():
    run, submit = _options("run"), _options("submit")
    for f in _job_fields(run_only=False):
        assert submit[f.name].help == run[f.name].help and submit[f.name].default == run[f.name].default
    for f in _job_fields(run_only=True):
        assert f.name in run and f.name not in submit, f.name
    # the restoration options come along on both
    assert {"steps", "sigma_y", "estimate_sigma_y", "model"} <= set(submit) & set(run)


def test_negative_is_a_flag_without_a_no_twin():
    run = _options("run")
    assert run["negative"].opts == ["--negative"] and not run["negative"].secondary_opts
    assert run["fixed_batch"].secondary_opts == ["--no-fixed-batch"]


@pytest.mark.parametrize("command", ["run", "submit"])
@pytest.mark.parametrize("args, says", [
    (["--batch-size", "0"], "batch_size must be >= 1, got 0"),
    (["--output-format", "jpeg"], "output_format must be one of ['png', 'tiff'], got 'jpeg'"),
    (["--storage-options", "[1]"], "--storage-options must be a JSON object"),
])
def test_bad_job_options_are_refused_in_one_line_by_both_commands(tmp_path, command, args, says):
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,uri\na,a.png\n")
    result = CliRunner().invoke(app, [command, str(manifest), "--out", str(tmp_path / "out"), "--op", "colorize",
                                      *args, "--address", "http://127.0.0.1:9"][: None if command == "submit" else -2])
    assert result.exit_code == 2, result.output
    assert says in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_output_format_is_read_as_a_person_writes_it(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,uri\na,a.png\n")
    result = CliRunner().invoke(app, ["run", str(manifest), "--out", str(tmp_path / "out"), "--op", "colorize",
                                      "--output-format", "TIF", "--dry-run"])  # fmt: skip
    assert result.exit_code == 0, result.output
