"""Guidance rules and their parameters from the command line (`restore`, `run`, `submit`) down to the engine.

The options are only worth having if they reach the sampler: these tests check that a parameter changes the
result, lands in the PNG provenance and the job settings, and that a parameter the rule does not take is
refused before anything loads.
"""

from __future__ import annotations

import json
from io import BytesIO
from xml.etree import ElementTree

import numpy as np
import pytest
from PIL import Image
from pipeline_helpers import TEST_MAX_PIXELS, good_files, good_rows, pixels, write_files
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.encode import DDNM_XMP_NAMESPACE
from pipeline.job_spec import from_json, to_json
from pipeline.settings import JobSettings

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def provenance(path) -> dict[str, str]:
    with Image.open(path) as image:
        image.load()
        packet = image.text["XML:com.adobe.xmp"]
    description = ElementTree.fromstring(packet).find(".//{%s}Description" % RDF)
    prefix = "{%s}" % DDNM_XMP_NAMESPACE
    return {k[len(prefix):]: v for k, v in description.attrib.items() if k.startswith(prefix)}


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    folder = tmp_path_factory.mktemp("guidance-cli")
    write_files(folder, good_files())
    return folder


def restore(scan, tiny_model_path, name: str, *options: str):
    out = scan / f"{name}.png"
    args = ["restore", str(scan / "grey0.png"), str(out), "--op", "colorize", "--model", tiny_model_path,
            "--steps", "3", "--device", "cpu", "--sigma-y", "0.2", *options]  # fmt: skip
    result = CliRunner().invoke(app, args)
    return result, out


def test_restore_passes_rule_parameters_to_the_sampler(scan, tiny_model_path):
    result, gamma6 = restore(scan, tiny_model_path, "gamma6", "--guidance", "ddpg", "--gamma", "6", "--zeta", "0.3")
    assert result.exit_code == 0, result.output
    assert "consistency" in result.output
    record = provenance(gamma6)
    assert record["guidance"] == "ddpg"
    assert json.loads(record["guidanceParams"]) == {"gamma": 6.0, "zeta": 0.3}
    _, gamma0 = restore(scan, tiny_model_path, "gamma0", "--guidance", "ddpg", "--gamma", "0", "--zeta", "0.3")
    _, again = restore(scan, tiny_model_path, "again", "--guidance", "ddpg", "--gamma", "6", "--zeta", "0.3")
    # δ_t = ᾱ^γ: γ = 0 is pure least squares, γ = 6 mostly back-projection, so the images must differ;
    # the same options and seed must not.
    assert np.abs(pixels(gamma6) - pixels(gamma0)).max() > 0
    np.testing.assert_array_equal(pixels(gamma6), pixels(again))


def test_restore_records_the_convention(scan, tiny_model_path):
    result, ref = restore(scan, tiny_model_path, "reference", "--convention", "reference", "--eta", "0.85")
    assert result.exit_code == 0, result.output
    assert provenance(ref)["convention"] == "reference"
    _, paper = restore(scan, tiny_model_path, "paper", "--eta", "0.85")
    assert provenance(paper)["convention"] == "paper"
    assert np.abs(pixels(ref) - pixels(paper)).max() > 0


def test_restore_runs_a_gradient_rule(scan, tiny_model_path):
    result, out = restore(scan, tiny_model_path, "dps", "--guidance", "dps", "--grad-step", "0.25")
    assert result.exit_code == 0, result.output
    assert provenance(out)["guidance"] == "dps"
    assert json.loads(provenance(out)["guidanceParams"]) == {"grad_step": 0.25}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--guidance", "dps", "--gamma", "3"], "belong to guidance ['ddpg', 'idpg']"),
        (["--guidance", "ddnm", "--grad-step", "1"], "takes no parameters"),
        (["--guidance", "ddpg", "--zeta", "2"], "zeta must be in [0, 1]"),
        (["--guidance", "ddpg", "--step-size-mode", "cosine"], "step_size_mode 'cosine'"),
        (["--guidance", "ddrm"], "unknown guidance 'ddrm'"),
        (["--convention", "authors"], "unknown convention 'authors'; valid: ['paper', 'reference']"),
        (["--convention", "reference", "--guidance", "dps"], "needs guidance 'ddnm'"),
    ],
)
def test_restore_refuses_parameters_the_rule_does_not_take(scan, tiny_model_path, options, message):
    result, out = restore(scan, tiny_model_path, "refused", *options)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not out.exists()


def test_run_refuses_a_wrong_parameter_before_ray_starts(scan):
    args = ["run", str(scan / "m.csv"), "--out", str(scan / "o"), "--op", "colorize", "--guidance", "mcg",
            "--zeta", "0.5"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "belong to guidance ['ddpg', 'idpg']" in " ".join(result.output.split())


def test_job_settings_carry_guidance_to_the_cluster_and_the_sampler():
    settings = JobSettings.of("s3://a/m.csv", "s3://a/out", guidance="idpg", guidance_params={"gamma": 4.0},
                           travel_length=2, travel_repeat=2)  # fmt: skip
    assert from_json(to_json(settings)) == settings
    sampler = settings.restore.sampler
    assert sampler.guidance == "idpg" and sampler.params.gamma == 4.0 and sampler.travel_length == 2
    with pytest.raises(ValueError, match="grad_step"):
        JobSettings.of("m.csv", "out", guidance="ddpg", guidance_params={"grad_step": 1.0})


def test_restore_stage_runs_rules_inside_its_inference_mode(scan, tiny_model_path):
    """The actor's model call runs under inference_mode; the gradient rules must still get their gradients."""
    from test_pipeline_restore_stage import by_id, decoded

    from pipeline.restore_stage import RestoreStage

    residuals = {}
    for guidance, params in (("dps", {"grad_step": 0.5}), ("mcg", {}), ("idpg", {"gamma": 2.0})):
        settings = JobSettings.of(str(scan / "m.csv"), str(scan / "out"), op="colorize", model=tiny_model_path,
                               steps=2, batch_size=2, device="cpu", max_pixels=TEST_MAX_PIXELS,
                               guidance=guidance, guidance_params=params)  # fmt: skip
        rows = by_id(RestoreStage(settings)(decoded(settings, good_rows()[:2])))
        assert {r["status"] for r in rows.values()} == {"ok"}, [r["error_message"] for r in rows.values()]
        residuals[guidance] = max(r["consistency_residual"] for r in rows.values())
    # MCG and IDPG end on the measurement (projection / back-projection); DPS only approaches it.
    assert residuals["mcg"] < 1e-3 and residuals["idpg"] < 1e-2
    assert np.isfinite(residuals["dps"])


@pytest.mark.parametrize("op, message", [("cs", "its measurement is not an image"), ("blurr", "unknown operator")])
def test_restore_refuses_an_operator_it_cannot_run_with_a_clear_error(scan, tmp_path, op, message):
    out = tmp_path / "never.png"
    result = CliRunner().invoke(app, ["restore", str(scan / "grey0.png"), str(out), "--op", op, "--device", "cpu"])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert not out.exists()
