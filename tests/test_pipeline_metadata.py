"""pipeline.metadata / ledger / encode: schema round trip, dedupe, resume, PNG provenance."""

from __future__ import annotations

import dataclasses
import time
from io import BytesIO
from xml.etree import ElementTree

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline import io, ledger, metadata
from pipeline.fingerprint import row_fingerprint
from pipeline.encode import DDNM_XMP_NAMESPACE, encode_png, provenance_for, to_uint8
from pipeline.manifest import ManifestRow
from pipeline.rows import ENCODED_COLUMNS, from_rows, to_rows

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"


def ok_row(row_id: str, out_uri: str, **overrides) -> dict:
    row = {
        "id": row_id, "source_uri": f"/in/{row_id}.png", "op": "colorize", "params": "{}", "extra": '{"k": 1}',
        "status": "ok", "error_type": "", "error_message": "", "input_sha256": "a" * 64, "input_width": 8,
        "input_height": 6, "input_mode": "L", "input_icc": False, "decode_s": 0.1, "started_at": time.time(),
        "consistency_residual": 1e-7, "restore_s": 2.0, "model_name": "tiny", "weights_sha256": "b" * 64,
        "steps": 5, "seed": 2**62 + 1, "worker": "host:1", "output_uri": io.output_uri_for(out_uri, row_id),
        "output_sha256": "c" * 64, "output_width": 8, "output_height": 6, "encode_s": 0.01,
        "finished_at": time.time(),
    }  # fmt: skip
    return {**row, **overrides}


def error_row(row_id: str, **overrides) -> dict:
    row = {"id": row_id, "source_uri": "/in/x", "op": "colorize", "params": "{}", "extra": "{}", "status": "error",
           "error_type": "CorruptImage", "error_message": "bad", "started_at": time.time()}  # fmt: skip
    return {**row, **overrides}


def test_schema_round_trip_through_stage_columns(tmp_path):
    """Stage sentinels (empty strings, NaN, -1) come back as nulls, values as written."""
    out = str(tmp_path)
    rows = to_rows(from_rows([ok_row("a", out), error_row("b")], ENCODED_COLUMNS))
    table = metadata.table_from_rows(rows)
    part = metadata.write_part(table, out, "run1", 0)
    back = pq.read_table(part)
    assert back.schema.equals(metadata.SCHEMA)
    a, b = back.to_pylist()
    assert a["seed"] == 2**62 + 1 and a["input_width"] == 8 and a["error_type"] is None
    assert a["started_at"].tzinfo is not None and a["extra"] == '{"k": 1}'
    assert b["status"] == "error" and b["output_uri"] is None and b["consistency_residual"] is None
    assert b["input_width"] is None and b["seed"] is None and b["error_message"] == "bad"


def test_schema_has_the_provenance_columns():
    names = set(metadata.SCHEMA.names)
    for column in ["premis_event", "digital_source_type", "weights_sha256", "consistency_residual", "extra",
                   "decode_s", "restore_s", "encode_s", "software_version", "input_sha256", "output_sha256"]:  # fmt: skip
        assert column in names


def test_latest_rows_prefers_the_latest_ok_row():
    table = metadata.table_from_rows(
        [ok_row("a", "/o", worker="first"), error_row("a"), ok_row("a", "/o", worker="second"),
         error_row("b", error_message="old"), error_row("b", error_message="new"), error_row("c")]
    )  # fmt: skip
    latest = {r["id"]: r for r in metadata.latest_rows(table).to_pylist()}
    assert sorted(latest) == ["a", "b", "c"]
    assert latest["a"]["worker"] == "second" and latest["b"]["error_message"] == "new"


def write_output(out: str, row_id: str) -> None:
    io.write_bytes_atomic(io.output_uri_for(out, row_id), b"png")


def test_ledger_hands_the_decode_stage_the_hashes_a_skipped_row_must_still_have(tmp_path):
    out, job = str(tmp_path), "f" * 64
    manifest = [ManifestRow(i, f"/in/{i}", "colorize") for i in ["done", "gone", "failed", "new", "changed", "old"]]
    fingerprints = {r.id: row_fingerprint(job, r) for r in manifest}
    rows = [ok_row("done", out, settings_sha256=fingerprints["done"]), ok_row("gone", out), error_row("failed"),
            ok_row("changed", out, settings_sha256=row_fingerprint("e" * 64, manifest[4])),
            ok_row("old", out)]  # written before the fingerprint existed: null settings_sha256
    metadata.write_part(metadata.table_from_rows(rows), out, "r1", 0)
    for row_id in ("done", "changed", "old"):
        write_output(out, row_id)  # "gone" has a row but its file was deleted
    assert ledger.finished_ids(out) == {i: io.output_uri_for(out, i) for i in ("done", "changed", "old")}
    items = ledger.work_items(manifest, ledger.previous_restorations(out), job)
    assert [i["id"] for i in items] == [r.id for r in manifest]  # every row goes to the graph, in order
    resume = {i["id"]: (i["resume_input_sha256"], i["resume_mask_sha256"]) for i in items}
    assert resume == {"done": ("a" * 64, "*"), "gone": ("", ""), "failed": ("", ""), "new": ("", ""),
                      "changed": ("", ""), "old": ("a" * 64, "*")}  # fmt: skip


FLAT = dict(manifest_uri="m.csv", out_uri="out", steps=100)
# Job keys computed before JobSettings held a RestoreSettings (flat fields, steps defaulting to 100): a resume after
# the upgrade must still recognise the rows these jobs restored.
PINNED_KEYS = [
    ({}, "04929a4dc829b4335ec359f0c2a00aeb3c693305e58975a741aa40b2445680c9"),
    ({"steps": 20}, "79ee9978d9ec726fcd44eaa0dd6b5a859f89802b845871ca6a7a242c97b13e16"),
    ({"steps": 20, "seed": 1, "sigma_y": 0.1, "samples": 2, "travel_length": 2, "travel_repeat": 2},
     "8d385ce2ebd9b130af99a52e8aa63a55acd77ef9be630ead8d2a5fa14c01332b"),
    ({"guidance": "ddpg", "guidance_params": {"gamma": 6.0}},
     "9023f5bbde4881b0889a3c7415c2d65e736232fb35cbf86bd36406a0f848a257"),
    ({"convention": "reference"}, "1320bd96b81b391f96daa8c04dbab21cc31321f2bc6462bba590f4e63e3fc547"),
    ({"work_size": 0, "latent_lambda": 0.5}, "ece92b1d488f856f6bd2f0541051d4221e9f454ff3a5dda5a58f3008a2550c81"),
    ({"samples": 1}, "04929a4dc829b4335ec359f0c2a00aeb3c693305e58975a741aa40b2445680c9"),
]


@pytest.mark.parametrize("flat, key", PINNED_KEYS)
def test_resume_keys_of_earlier_jobs_are_unchanged(flat, key):
    from pipeline.fingerprint import job_fingerprint
    from pipeline.preflight import ModelIdentity
    from pipeline.settings import JobSettings

    model = ModelIdentity("tiny", "b" * 64, 1.0, {"arch": "adm"})
    assert job_fingerprint(JobSettings.of(**{**FLAT, **flat}), model) == key
    # steps left unset is the prior's recommendation in force: 100 without one
    if "steps" not in flat:
        unset = {k: v for k, v in FLAT.items() if k != "steps"}
        assert job_fingerprint(JobSettings.of(**{**unset, **flat}), model) == key


def test_every_restoration_setting_is_in_the_key_or_named_as_not_hashed():
    from ddnm.settings import ModelSpec, RestoreSettings, SamplerSettings
    from pipeline.fingerprint import ADDED_LATER, NOT_HASHED, restoration_fields
    from pipeline.settings import JobSettings

    hashed = set(restoration_fields(JobSettings.of(**FLAT))) | set(ADDED_LATER)
    for owner in (SamplerSettings, RestoreSettings, ModelSpec):
        for f in dataclasses.fields(owner):
            assert f.name in hashed or f.name in NOT_HASHED, f"{owner.__name__}.{f.name} is not in the resume key"


def test_row_fingerprint_follows_every_restoration_setting_and_no_operational_one():
    from pipeline.fingerprint import job_fingerprint
    from pipeline.preflight import ModelIdentity
    from ddnm.tiling import TileSettings
    from pipeline.settings import JobSettings

    model = ModelIdentity("tiny", "b" * 64, 1.0, {"arch": "adm"})
    base = JobSettings.of(manifest_uri="m.csv", out_uri="out", steps=100)  # explicit, as every earlier job had
    same = [dict(out_uri="elsewhere", batch_size=8, num_actors=3, device="cpu", preview=2, model="other/path",
                 max_batch=4),
            dict(channels_last=False), dict(channels_last=True), dict(compile=True)]  # how it runs, not what
    changed = [dict(steps=20), dict(seed=1), dict(sigma_y=0.1), dict(samples=2), dict(travel_length=2),
               dict(guidance="ddpg"), dict(guidance="ddpg", guidance_params={"gamma": 6.0}),
               dict(convention="reference"), dict(dtype="bfloat16"), dict(start_t=500),
               dict(tiles=TileSettings(overlap=8))]  # fmt: skip
    reference = job_fingerprint(base, model)
    for overrides in same:
        assert job_fingerprint(JobSettings.of(**{**FLAT, **overrides}), model) == reference, overrides
    for overrides in changed:
        assert job_fingerprint(JobSettings.of(**{**FLAT, **overrides}), model) != reference, overrides
    assert job_fingerprint(base, dataclasses.replace(model, weights_sha256="c" * 64)) != reference
    assert job_fingerprint(base, dataclasses.replace(model, eta=0.85)) != reference
    # convention came later: at its default ("paper") it stays out of the key, so earlier ledgers still match
    from pipeline.fingerprint import restoration_fields

    assert "convention" not in restoration_fields(base)
    row = ManifestRow("a", "/in/a", "sr_avgpool", params='{"scale":2}')
    variants = [dataclasses.replace(row, params='{"scale":4}'), dataclasses.replace(row, op="sr_bicubic"),
                dataclasses.replace(row, mask_uri="/m.png")]  # fmt: skip
    assert len({row_fingerprint(reference, r) for r in [row, *variants]}) == 4
    assert row_fingerprint(reference, row) == row_fingerprint(reference, {**row.to_item(), "uri": "/moved/a"})


def test_ledger_of_an_empty_output_folder_is_empty(tmp_path):
    assert ledger.finished_ids(str(tmp_path / "nothing-yet")) == {}


def test_ledger_ignores_hidden_temp_files(tmp_path):
    out = str(tmp_path)
    io.write_bytes_atomic(io.join(metadata.metadata_dir(out), ".tmp-123-part-x.parquet"), b"half a file")
    assert ledger.finished_ids(out) == {}


def test_old_parts_missing_columns_read_with_nulls(tmp_path):
    out = str(tmp_path)
    old = pa.table({"id": ["a"], "status": ["ok"], "output_uri": [io.output_uri_for(out, "a")]})
    io.write_bytes_atomic(io.join(metadata.metadata_dir(out), "part-0-000000.parquet"), _parquet(old))
    table = metadata.read_all(out)
    assert table.schema.equals(metadata.SCHEMA) and table["seed"].to_pylist() == [None]


def _parquet(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


@pytest.fixture
def restored_row(tmp_path) -> dict:
    return ok_row("img", str(tmp_path), params='{"scale": 2}')


def test_png_is_lossless_8bit_with_provenance(restored_row):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (3, 6, 8)).astype(np.float32)
    png = encode_png(x, provenance_for(restored_row))
    with Image.open(BytesIO(png)) as image:
        image.load()
        assert image.mode == "RGB" and image.size == (8, 6)
        np.testing.assert_array_equal(np.asarray(image), to_uint8(x))
        text = image.text
    assert text["Software"].startswith("ddnm-batch ")
    assert "DDNM" in text["Description"] and str(restored_row["seed"]) in text["Description"]
    description = ElementTree.fromstring(text["XML:com.adobe.xmp"]).find(".//{%s}Description" % RDF)
    assert description.get("{%s}DigitalSourceType" % IPTC_EXT) == metadata.DIGITAL_SOURCE_TYPE
    assert description.get("{%s}weightsSha256" % DDNM_XMP_NAMESPACE) == restored_row["weights_sha256"]
    assert description.get("{%s}params" % DDNM_XMP_NAMESPACE) == '{"scale": 2}'
    assert description.get("{%s}seed" % DDNM_XMP_NAMESPACE) == str(restored_row["seed"])


def test_png_bytes_are_deterministic(restored_row):
    x = np.linspace(-1, 1, 48, dtype=np.float32).reshape(1, 6, 8)
    first = encode_png(x, provenance_for(restored_row))
    time.sleep(1.1)  # a timestamp in the file would change the bytes
    assert encode_png(x, provenance_for(restored_row)) == first


def test_to_uint8_rounds_and_clips():
    x = np.array([[[-2.0, -1.0, 0.0, 1.0, 3.0]]], dtype=np.float32)
    np.testing.assert_array_equal(to_uint8(x), [[0, 0, 128, 255, 255]])


def test_only_colour_rows_follow_the_colour_prior_in_the_key():
    """New colour weights redo colorize / old_photo rows; every other row, and jobs without a colour companion,
    keep the key they had."""
    from pipeline.fingerprint import colour_fingerprint, job_fingerprint, op_fingerprints
    from pipeline.preflight import ModelIdentity
    from pipeline.settings import JobSettings

    plain = ModelIdentity("tiny", "b" * 64, 1.0, {"arch": "adm"})
    colour = {"name": "ddnm-colour-32", "weights_sha256": "c" * 64, "sampling": {"steps": 20}}
    with_companion = dataclasses.replace(plain, colour=colour)
    retrained = dataclasses.replace(plain, colour={**colour, "weights_sha256": "d" * 64})
    settings = JobSettings.of(**FLAT)
    models = (plain, with_companion, retrained)
    jobs = {job_fingerprint(settings, m) for m in models}
    assert len(jobs) == 1  # the job's own key does not move
    job = jobs.pop()
    colours = [colour_fingerprint(m) for m in models]
    assert colours[0] == "" and len(set(colours)) == 3
    keys = [op_fingerprints(m) for m in models]
    assert keys[0] == {} and keys[1]["colorize"] == colours[1]  # the colour key colour rows have always added
    sr = ManifestRow("a", "/in/a", "sr_avgpool", params='{"scale":2}')
    gray = ManifestRow("b", "/in/b", "colorize")
    old = ManifestRow("c", "/in/c", "old_photo", mask_uri="/m.png")
    assert len({row_fingerprint(job, sr, k) for k in keys}) == 1
    for row in (gray, old):
        assert row_fingerprint(job, row, keys[0]) == row_fingerprint(job, row)  # no companion: as before
        assert len({row_fingerprint(job, row, k) for k in keys}) == 3


def test_a_task_recommendation_moves_only_that_tasks_rows():
    """More recommended samples for SR (the config's sampling.tasks) redo SR rows and no others; a prior whose
    block has no task entries keeps every key it had."""
    from pipeline.fingerprint import job_fingerprint, op_fingerprints
    from pipeline.preflight import ModelIdentity
    from pipeline.settings import JobSettings

    before = ModelIdentity("tiny", "b" * 64, 1.0, {"arch": "adm"}, sampling={"steps": 20, "samples": 1})
    sr4 = dataclasses.replace(before, sampling={**before.sampling, "tasks": {"sr_avgpool": {"samples": 4}}})
    sr2 = dataclasses.replace(before, sampling={**before.sampling, "tasks": {"sr_avgpool": {"samples": 2}}})
    settings = JobSettings.of(**FLAT)
    job = job_fingerprint(settings, before)
    assert {job_fingerprint(settings, m) for m in (sr4, sr2)} == {job}
    keys = [op_fingerprints(m) for m in (before, sr4, sr2)]
    assert keys[0] == {} and set(keys[1]) == {"sr_avgpool"}
    sr = ManifestRow("a", "/in/a", "sr_avgpool", params='{"scale":4}')
    deblur = ManifestRow("b", "/in/b", "deblur_gaussian", params='{"sigma":2}')
    assert len({row_fingerprint(job, sr, k) for k in keys}) == 3
    assert len({row_fingerprint(job, deblur, k) for k in keys}) == 1
    assert row_fingerprint(job, sr, keys[0]) == row_fingerprint(job, sr)


def test_a_setting_the_job_gives_replaces_the_recommendation_in_the_key():
    """An explicit setting overrides the prior's recommendation for it, so the key must not take the recommendation
    for it: ``--samples 1`` on colour rows (recommended 16) and ``--steps 20`` on SR rows (recommended 5, the
    prior-wide 20) restore otherwise than the default and must not share its key. A job that sets nothing keeps the
    keys it always had."""
    from pipeline.fingerprint import job_fingerprint, op_fingerprints
    from pipeline.preflight import ModelIdentity
    from pipeline.settings import JobSettings

    colour = {"name": "ddnm-colour-32", "weights_sha256": "c" * 64, "sampling": {"steps": 20, "samples": 16},
              "colour": {"work_size": 32, "samples": 16, "saturation": 2.0}}
    model = ModelIdentity("tiny", "b" * 64, 1.0, {"arch": "adm"}, colour=colour,
                          sampling={"steps": 20, "samples": 1, "tasks": {"sr_avgpool": {"samples": 4, "steps": 5}}})
    sr = ManifestRow("a", "/in/a", "sr_avgpool", params='{"scale":4}')
    gray = ManifestRow("b", "/in/b", "colorize")
    deblur = ManifestRow("c", "/in/c", "deblur_gaussian", params='{"sigma":2}')

    def keys(**given):
        settings = JobSettings.of(manifest_uri="m.csv", out_uri="out", **given)
        job, op_keys = job_fingerprint(settings, model), op_fingerprints(model, settings)
        return {row.id: row_fingerprint(job, row, op_keys) for row in (sr, gray, deblur)}

    default = keys()
    unset = JobSettings.of(manifest_uri="m.csv", out_uri="out")
    assert op_fingerprints(model, unset) == op_fingerprints(model)  # nothing set: the keys jobs always had
    one_sample, twenty_steps = keys(samples=1), keys(steps=20)
    assert one_sample["a"] != default["a"] and one_sample["b"] != default["b"]
    assert twenty_steps["a"] != default["a"]
    assert twenty_steps["c"] == default["c"]  # deblurring has no recommendation of its own: 20 is what it ran
    reseeded = JobSettings.of(manifest_uri="m.csv", out_uri="out", seed=1)
    assert op_fingerprints(model, reseeded) == op_fingerprints(model)  # no recommendation names the seed
