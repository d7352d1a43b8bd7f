"""Masks per image in the pipeline (issue 20): scans with different mask files are one model call, not one call
each, and every row comes out as it does alone, through the stage called on a dict and through a real local Ray."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from pipeline_helpers import WINDOW, grey_photo, png, write_files, write_manifest

from pipeline import metadata
from pipeline.decode import decode_batch
from pipeline.encode import provenance_for, to_uint8
from pipeline.manifest import validate_rows
from pipeline.restore_stage import RestoreStage, group_key
from pipeline.rows import MANIFEST_COLUMNS, from_rows, to_rows, unpack_array
from pipeline.run import run_job
from pipeline.settings import JobSettings

IDS = ("scan0", "scan1", "scan2")


def masks() -> dict[str, np.ndarray]:
    """Three different damage masks (255 = intact): a box, a band, a speckle."""
    box, band = np.full((WINDOW, WINDOW), 255, np.uint8), np.full((WINDOW, WINDOW), 255, np.uint8)
    box[8:20, 10:24] = 0
    band[:, 20:] = 0
    speckle = np.where(np.random.default_rng(3).random((WINDOW, WINDOW)) > 0.5, 255, 0).astype(np.uint8)
    return {"scan0": box, "scan1": band, "scan2": speckle}


def records(op: str) -> list[dict]:
    return [{"id": i, "uri": f"{i}.png", "op": op, "mask_uri": f"{i}-mask.png", "params": ""} for i in IDS]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("masks")
    write_files(folder, {f"{i}.png": grey_photo(10 + n) for n, i in enumerate(IDS)})
    write_files(folder, {f"{i}-mask.png": png(m) for i, m in masks().items()})
    write_manifest(folder / "m.csv", records("inpaint"))
    return folder


@pytest.fixture(scope="module")
def settings(tiny_model_path, folder) -> JobSettings:
    return JobSettings.of(manifest_uri=str(folder / "m.csv"), out_uri=str(folder / "out"), op="inpaint",
                          model=tiny_model_path, steps=2, batch_size=3, device="cpu")  # fmt: skip


@pytest.fixture(scope="module")
def stage(settings) -> RestoreStage:
    torch.set_num_threads(1)
    return RestoreStage(settings)


def decoded(settings: JobSettings, rows: list[dict]) -> dict[str, np.ndarray]:
    checked = validate_rows(rows, settings.op, base_dir=settings.manifest_uri.rsplit("/", 1)[0])
    return decode_batch(from_rows([r.to_item() for r in checked], MANIFEST_COLUMNS), settings)


def restored(batch: dict[str, np.ndarray]) -> dict[str, dict]:
    return {row["id"]: row for row in to_rows(batch)}


def network_batches(stage: RestoreStage, batch: dict[str, np.ndarray]) -> tuple[dict[str, dict], list[int]]:
    """The stage's rows and the batch size of every call of its network."""
    sizes = []
    hook = stage.model.net.register_forward_hook(lambda net, inputs, out: sizes.append(inputs[0].shape[0]))
    try:
        return restored(stage(batch)), sizes
    finally:
        hook.remove()


@pytest.mark.parametrize("op", ["inpaint", "old_photo"])
def test_scans_with_different_masks_are_one_model_call_and_each_row_as_alone(stage, settings, op):
    together, calls = network_batches(stage, decoded(settings, records(op)))
    assert {r["status"] for r in together.values()} == {"ok"}, [r["error_message"] for r in together.values()]
    alone_calls = []
    for record in records(op):
        alone, calls_one = network_batches(stage, decoded(settings, [record]))  # padded to batch_size, fixed_batch
        assert alone[record["id"]]["restored_npy"] == together[record["id"]]["restored_npy"], record["id"]
        alone_calls.append(calls_one)
    pair, pair_calls = network_batches(stage, decoded(settings, records(op)[:2]))  # padded with scan1's copy
    assert all(pair[i]["restored_npy"] == together[i]["restored_npy"] for i in IDS[:2])
    samples = together["scan0"]["samples"]  # old_photo: K samples of every scan at the working size in one call
    assert calls == pair_calls == alone_calls[0] and set(calls) == {3 * samples}  # 3 scans cost what 1 costs
    if op == "inpaint":  # each row kept its own intact pixels, not a batch-mate's
        source = decoded(settings, records(op))
        for row, mask_bytes in zip(to_rows(source), source["mask_npy"]):
            known = unpack_array(mask_bytes).astype(bool)
            x = unpack_array(together[row["id"]]["restored_npy"])
            pixels = unpack_array(row["pixels_npy"]).astype(np.float32) / 127.5 - 1
            np.testing.assert_allclose(x[:, known], np.broadcast_to(pixels, x.shape)[:, known], atol=1e-3)


def test_group_key_ignores_the_mask_but_not_its_presence(stage, settings):
    rows = [stage._start(row) for row in to_rows(decoded(settings, records("inpaint")))]
    assert len({group_key(r) for r in rows}) == 1
    maskless = {**rows[0], "_mask": None}
    assert group_key(maskless) != group_key(rows[0])


def test_through_ray_each_row_is_written_as_restored_alone(stage, settings, ray_local):
    summary = run_job(settings)
    assert (summary.ok, summary.errors) == (3, 0)
    for row in metadata.read_all(settings.out_uri).to_pylist():
        alone = restored(stage(decoded(settings, [r for r in records("inpaint") if r["id"] == row["id"]])))
        written = np.asarray(Image.open(row["output_uri"].removeprefix("file://")))
        expected = to_uint8(unpack_array(alone[row["id"]]["restored_npy"]))
        np.testing.assert_array_equal(written, expected)


def test_a_warm_start_is_recorded_per_row(stage, settings):
    """Provenance names where sampling began: the ledger's start_t and the PNG's startT for a warm start (CCDF, here
    asked for; the bundled prior recommends one for inpainting and SR), null and absent for a start from noise."""
    warm_settings = JobSettings.of(manifest_uri=settings.manifest_uri, out_uri=settings.out_uri, op="inpaint",
                                   model=settings.restore.model.path, steps=2, start_t=40, batch_size=3,
                                   device="cpu")  # fmt: skip
    warm = list(restored(RestoreStage(warm_settings)(decoded(warm_settings, records("inpaint")))).values())
    cold = list(restored(stage(decoded(settings, records("inpaint")))).values())
    assert [r["status"] for r in warm + cold] == ["ok"] * 6
    assert metadata.table_from_rows(warm)["start_t"].to_pylist() == [40] * 3
    assert metadata.table_from_rows(cold)["start_t"].to_pylist() == [None] * 3
    assert provenance_for(warm[0])["startT"] == "40" and "startT" not in provenance_for(cold[0])
