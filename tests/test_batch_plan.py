"""Size-aware batching: a large scan never holds back the small ones of its batch. The stage called on a plain dict
hands on the small image's row first, and the large one, restored alone and unpadded, is the same as restored in a
batch of its own; through a real local Ray the small row reaches OUT while the large one is still being restored."""

from __future__ import annotations

import time

import numpy as np
import pytest
from pipeline_helpers import grey_photo, write_files, write_manifest

from pipeline import metadata
from pipeline.decode import decode_batch
from pipeline.manifest import validate_rows
from pipeline.restore_stage import RestoreStage
from pipeline.rows import MANIFEST_COLUMNS, from_rows, to_rows
from pipeline.run import run_job
from pipeline.settings import JobSettings

LARGE = 160  # 5x5 windows of the tiny prior's 32 and more with overlap


@pytest.fixture(scope="module")
def settings(tiny_model_path, tmp_path_factory) -> JobSettings:
    folder = tmp_path_factory.mktemp("batch-plan")
    write_files(folder, {"large.png": grey_photo(7, size=LARGE), "small.png": grey_photo(8)})
    write_manifest(folder / "m.csv", [{"id": "large", "uri": "large.png"}, {"id": "small", "uri": "small.png"}])
    return JobSettings.of(manifest_uri=str(folder / "m.csv"), out_uri=str(folder / "out"), op="colorize",
                       model=tiny_model_path, steps=3, batch_size=2, device="cpu", max_pixels=100_000,
                       work_size=0)  # fmt: skip  # full size in windows: the large image costs what its size says


def decoded(settings: JobSettings, ids: list[str]) -> dict[str, np.ndarray]:
    folder = settings.manifest_uri.rsplit("/", 1)[0]
    rows = validate_rows([{"id": i, "uri": f"{i}.png"} for i in ids], settings.op, base_dir=folder)
    return decode_batch(from_rows([r.to_item() for r in rows], MANIFEST_COLUMNS), settings)


def restored(batch: dict[str, np.ndarray]) -> dict[str, bytes]:
    return {row["id"]: row["restored_npy"] for row in to_rows(batch)}


def test_the_small_image_is_handed_on_first_and_the_large_one_alone(settings):
    stage = RestoreStage(settings)
    parts = stage.restore_in_parts(decoded(settings, ["large", "small"]))  # the large one comes first in the batch
    started = time.perf_counter()
    first = restored(next(parts))
    first_s = time.perf_counter() - started
    second = restored(next(parts))
    second_s = time.perf_counter() - started - first_s
    assert list(first) == ["small"] and list(second) == ["large"]
    assert next(parts, None) is None
    assert second_s > first_s, (first_s, second_s)  # the small row did not wait for the large one
    assert restored(stage(decoded(settings, ["small"]))) == first  # same bytes as in a batch of its own
    assert restored(stage(decoded(settings, ["large"]))) == second


def test_through_ray_the_small_row_reaches_out_while_the_large_one_is_restored(settings, ray_local):
    summary = run_job(settings)
    assert (summary.ok, summary.errors) == (2, 0)
    rows = {r["id"]: r for r in metadata.read_all(settings.out_uri).to_pylist()}
    large, small = rows["large"], rows["small"]
    # Held back, the small row would be encoded after the large one's restoration ended (finished_at - encode_s).
    large_restore_end = large["finished_at"].timestamp() - large["encode_s"]
    # (Not by a fixed margin: the small row's encode task may first have to start a worker, seconds on a loaded CPU.)
    assert small["finished_at"].timestamp() < large_restore_end, (small, large)
