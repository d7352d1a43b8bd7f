"""The operator registry (``ddnm.operators.registry``) is the one list: every fact it states is held to the code.

Parametrised over the registry, so a new operator is checked once registered: its declared parameters against its
factory, its ``observed`` / ``scale_param`` / ``removes_colour`` against the shapes the operator really has, its
``cli`` flag against the pipeline's manifest validation, and the README's operator table against the CLI's list.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from ddnm.operators import Compose, make
from ddnm.operators.colorize import Colorize
from ddnm.operators.downsample import Bicubic
from ddnm.operators.inpaint import Inpaint
from ddnm.operators.registry import OPERATORS, cli_operators, name_of
from pipeline import measurement, ops
from pipeline.manifest import ManifestError, read_manifest

NAMES = sorted(OPERATORS)
SHAPE = (3, 16, 16)  # divisible by the scale and by cs's default block of 8
README = Path(__file__).resolve().parents[1] / "README.md"


def example_params(name: str) -> dict:
    """Parameters for each required one (the registry says which are required)."""
    values = {"scale": 2, "mask": torch.ones(SHAPE[1:]), "sigma": 1.0, "kernel": torch.ones(3, 3) / 9, "length": 3}
    return {p: values[p] for p in OPERATORS[name].required}


@pytest.mark.parametrize("name", NAMES)
def test_declared_parameters_are_the_factorys(name):
    spec = OPERATORS[name]
    signature = list(inspect.signature(spec.load()).parameters.values())[1:]  # after x_shape
    assert spec.parameters == tuple(p.name for p in signature)
    assert spec.required == tuple(p.name for p in signature if p.default is inspect.Parameter.empty)


@pytest.mark.parametrize("name", NAMES)
def test_observed_scale_and_colour_match_the_operators_shapes(name):
    spec, params = OPERATORS[name], example_params(name)
    y_shape = tuple(make(name, SHAPE, **params).y_shape())
    scale = params[spec.scale_param] if spec.scale_param else 1
    if spec.observed is None:  # library only: y is not an image (cs: coefficients per block, not 1 or C channels)
        assert len(y_shape) != 3 or y_shape[0] not in (1, SHAPE[0])
        return
    assert y_shape == ((1 if spec.removes_colour else 3), SHAPE[1] // scale, SHAPE[2] // scale)
    if spec.observed == "y":  # the scan is y itself, with the restored image's channels
        assert y_shape[0] == SHAPE[0]


@pytest.mark.parametrize("name", sorted(cli_operators()))
def test_the_pipeline_builds_y_from_a_scan_as_observed_says(name):
    spec, params = OPERATORS[name], example_params(name)
    scale = params[spec.scale_param] if spec.scale_param else 1
    side = SHAPE[1] if spec.observed == "x" else SHAPE[1] // scale
    scan = np.zeros((3, side, side), dtype=np.uint8)  # decoded samples are (C, H, W)
    mask = np.ones(SHAPE[1:], dtype=bool) if spec.needs_mask else None
    json_params = {k: v for k, v in params.items() if k != "mask"}
    json_params = {k: v.tolist() if isinstance(v, torch.Tensor) else v for k, v in json_params.items()}
    op, y = measurement.build(name, json.dumps(json_params), [scan], mask, channels=3)
    assert tuple(op.x_shape) == SHAPE and tuple(y.shape[1:]) == tuple(op.y_shape())


@pytest.mark.parametrize("name", NAMES)
def test_manifest_validation_accepts_exactly_the_cli_operators(tmp_path, name):
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"id,uri,mask_uri\na,a.png,{'mask.png' if OPERATORS[name].needs_mask else ''}\n")
    if OPERATORS[name].cli:
        assert [row.op for row in read_manifest(str(manifest), default_op=name)] == [name]
    else:
        with pytest.raises(ManifestError, match=f"'{name}' is not supported by the batch pipeline"):
            read_manifest(str(manifest), default_op=name)


@pytest.mark.parametrize("name", [n for n in NAMES if OPERATORS[n].needs_mask])
def test_manifest_validation_asks_for_the_mask_the_registry_requires(tmp_path, name):
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,uri\na,a.png\n")
    with pytest.raises(ManifestError, match=f"operator '{name}' needs a mask"):
        read_manifest(str(manifest), default_op=name)


def test_the_pipeline_offers_the_registrys_cli_operators():
    assert list(ops.PLANS) == [name for name, spec in OPERATORS.items() if spec.cli]
    assert ops.check_op("cs", ops.engine_operator_names()) == (
        "operator 'cs' is not supported by the batch pipeline (its measurement is not an image)")


def test_readme_operator_table_lists_the_cli_operators():
    text = README.read_text()
    table = text[text.index("| op | measurement y |"):].split("\n\n")[0]
    listed = {name for line in table.splitlines()[2:] for name in re.findall(r"`([a-z_]+)`", line.split("|")[1])}
    assert listed == set(cli_operators())


@pytest.mark.parametrize("name", NAMES)
def test_name_of_an_operator_is_the_name_it_was_made_under(name):
    assert name_of(make(name, SHAPE, **example_params(name))) == name


def test_name_of_an_operator_built_by_hand():
    assert name_of(Bicubic(SHAPE, 2)) == "sr_bicubic"  # a registered class, exactly
    assert name_of(Compose(Inpaint((1, 16, 16), torch.ones(16, 16)), Colorize(SHAPE))) is None  # not made: no name
