"""The Parquet provenance record: the schema (declared once, here), writing parts, reading them back.

Each manifest row yields exactly one metadata row per attempt. The driver writes them as a Parquet
dataset under ``OUT/metadata/``, one ``part-<run_id>-<n>.parquet`` file per 256 rows or 30 seconds
(``pipeline.sink``), each written atomically. A re-run adds parts; readers keep, per id, the latest ``ok`` row, or
the latest row when no attempt succeeded (:func:`latest_rows`). Times are UTC; ``params``/``extra`` are JSON.
``pipeline.compact`` merges many parts into one ``….compact.parquet`` that reads the same.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import uuid
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq

from . import io
from .rows import STATUS_OK

PREMIS_EVENT = "restoration"
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicallyEnhanced"

ID = "id"
SOURCE_URI = "source_uri"
MASK_URI = "mask_uri"
OUTPUT_URI = "output_uri"
OP = "op"
PARAMS = "params"
STATUS = "status"
ERROR_TYPE = "error_type"
ERROR_MESSAGE = "error_message"
INPUT_SHA256 = "input_sha256"
MASK_SHA256 = "mask_sha256"
SETTINGS_SHA256 = "settings_sha256"
OUTPUT_SHA256 = "output_sha256"
INPUT_WIDTH, INPUT_HEIGHT = "input_width", "input_height"
OUTPUT_WIDTH, OUTPUT_HEIGHT = "output_width", "output_height"
OUTPUT_BITS, OUTPUT_CHANNELS, OUTPUT_ICC = "output_bits", "output_channels", "output_icc"
OUTPUT_DPI = "output_dpi"
INPUT_MODE = "input_mode"
INPUT_ICC = "input_icc"
INPUT_PAGES, INPUT_PAGE = "input_pages", "input_page"
INPUT_NEGATIVE = "input_negative"
CONSISTENCY_RESIDUAL = "consistency_residual"
SEAM_RATIO, TILES = "seam_ratio", "tiles"
MODEL_NAME = "model_name"
WEIGHTS_SHA256 = "weights_sha256"
STEPS, ETA, SIGMA_Y, SEED = "steps", "eta", "sigma_y", "seed"
START_T = "start_t"
GUIDANCE, GUIDANCE_PARAMS = "guidance", "guidance_params"
CONVENTION = "convention"
SAMPLES, UNCERTAINTY = "samples", "uncertainty"
WORK_SIZE = "work_size"
COLOUR_STRENGTH = "colour_strength"
SOFTWARE_VERSION = "software_version"
DECODE_S, RESTORE_S, ENCODE_S = "decode_s", "restore_s", "encode_s"
WORKER = "worker"
STARTED_AT, FINISHED_AT = "started_at", "finished_at"
RUN_ID = "run_id"
PREMIS_EVENT_COLUMN = "premis_event"
DIGITAL_SOURCE_TYPE_COLUMN = "digital_source_type"
EXTRA = "extra"

TIMESTAMP = pa.timestamp("us", tz="UTC")
COMPACTED_SUFFIX = ".compact.parquet"  # a part that holds the rows of earlier parts (pipeline.compact)
REPLACES_KEY = b"ddnm:replaces"  # its footer's list of the part names it holds

SCHEMA = pa.schema(
    [
        pa.field(ID, pa.string(), nullable=False),
        pa.field(SOURCE_URI, pa.string()),
        pa.field(MASK_URI, pa.string()),  # inpaint/old_photo: re-running or reviewing a row needs it
        pa.field(OUTPUT_URI, pa.string()),
        pa.field(OP, pa.string()),
        pa.field(PARAMS, pa.string()),
        pa.field(STATUS, pa.string(), nullable=False),  # ok | error | skipped
        pa.field(ERROR_TYPE, pa.string()),
        pa.field(ERROR_MESSAGE, pa.string()),
        pa.field(INPUT_SHA256, pa.string()),
        pa.field(MASK_SHA256, pa.string()),  # the mask file's bytes; part of the resume key (pipeline.ledger)
        pa.field(SETTINGS_SHA256, pa.string()),  # restoration settings fingerprint (pipeline.fingerprint)
        pa.field(OUTPUT_SHA256, pa.string()),
        pa.field(INPUT_WIDTH, pa.int32()),
        pa.field(INPUT_HEIGHT, pa.int32()),
        pa.field(OUTPUT_WIDTH, pa.int32()),
        pa.field(OUTPUT_HEIGHT, pa.int32()),
        pa.field(OUTPUT_BITS, pa.int32()),  # 8 or 16 a sample (encode.sample_bits); null in parts older than it
        pa.field(OUTPUT_CHANNELS, pa.int32()),  # 1 gray, 3 RGB (measurement.in_source_channels)
        pa.field(OUTPUT_ICC, pa.bool_()),  # the scan's ICC profile was embedded (encode.output_profile)
        pa.field(OUTPUT_DPI, pa.float64()),  # pixels an inch the image states (x; pipeline.resolution); null: none
        pa.field(INPUT_MODE, pa.string()),
        pa.field(INPUT_ICC, pa.bool_()),
        pa.field(INPUT_PAGES, pa.int32()),  # full-resolution images in the file (TIFF pages, frames)
        pa.field(INPUT_PAGE, pa.int32()),  # which was restored (1-based; the manifest's file_page); null = the first
        pa.field(INPUT_NEGATIVE, pa.bool_()),  # a negative, restored as its positive (decode.inverted); null if older
        pa.field(CONSISTENCY_RESIDUAL, pa.float64()),  # ‖A x̂ − y‖ / ‖y‖
        pa.field(SEAM_RATIO, pa.float64()),  # tiled rows: gradient across window seams / elsewhere (ddnm.tiling)
        pa.field(TILES, pa.int32()),  # model windows the image was restored in (1 = untiled)
        pa.field(MODEL_NAME, pa.string()),
        pa.field(WEIGHTS_SHA256, pa.string()),
        pa.field(STEPS, pa.int32()),
        pa.field(START_T, pa.int32()),  # warm start (CCDF): the timestep sampling began at; null = from noise
        pa.field(ETA, pa.float64()),
        pa.field(SIGMA_Y, pa.float64()),
        pa.field(GUIDANCE, pa.string()),  # the rule (ddnm.guidance.GUIDANCE); null in parts older than the column
        pa.field(GUIDANCE_PARAMS, pa.string()),  # the rule parameters set for the run, JSON object
        pa.field(CONVENTION, pa.string()),  # paper | reference: what eta means (docs/conventions.md); null if older
        pa.field(SEED, pa.int64()),
        pa.field(SAMPLES, pa.int32()),  # posterior samples averaged into the output (ddnm.posterior)
        pa.field(UNCERTAINTY, pa.float64()),  # mean per-pixel spread of those samples, [0, 1] units; null for 1
        pa.field(WORK_SIZE, pa.int32()),  # colour estimated at this long side, lifted to full size (ddnm.colour)
        pa.field(COLOUR_STRENGTH, pa.float64()),  # colour tasks: the chroma's factor (1: the prior's); else null
        pa.field(SOFTWARE_VERSION, pa.string()),
        pa.field(DECODE_S, pa.float64()),
        pa.field(RESTORE_S, pa.float64()),
        pa.field(ENCODE_S, pa.float64()),
        pa.field(WORKER, pa.string()),
        pa.field(STARTED_AT, TIMESTAMP),
        pa.field(FINISHED_AT, TIMESTAMP),
        pa.field(RUN_ID, pa.string()),
        pa.field(PREMIS_EVENT_COLUMN, pa.string()),
        pa.field(DIGITAL_SOURCE_TYPE_COLUMN, pa.string()),
        pa.field(EXTRA, pa.string()),  # carried-through manifest columns, JSON object
    ]
)

_REQUIRED_TEXT = (ID, STATUS)


def software_version() -> str:
    """The installed ddnm-batch version (the engine's version when run from a source tree)."""
    try:
        return importlib.metadata.version("ddnm-batch")
    except importlib.metadata.PackageNotFoundError:
        import ddnm

        return ddnm.__version__


def metadata_dir(out_uri: str) -> str:
    return io.join(out_uri, "metadata")


def new_run_id() -> str:
    """Sortable and unique: UTC time then a random suffix."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def table_from_rows(rows: list[dict]) -> pa.Table:
    """Rows (stage sentinels allowed: ``""``, NaN, -1, epoch floats) to a table in :data:`SCHEMA`."""
    columns = {f.name: [_value(f, r.get(f.name)) for r in rows] for f in SCHEMA}
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def _value(field: pa.Field, value):
    if value is None:
        return None
    if field.type == TIMESTAMP:
        return None if math.isnan(value) else datetime.fromtimestamp(value, timezone.utc)
    if pa.types.is_floating(field.type):
        return None if math.isnan(value) else float(value)
    if pa.types.is_integer(field.type):
        return None if value == -1 else int(value)
    if pa.types.is_string(field.type):
        return value if (value != "" or field.name in _REQUIRED_TEXT) else None
    return value


def write_part(table: pa.Table, out_uri: str, run_id: str, part: int, storage_options: dict | None = None) -> str:
    """Write one part file atomically; returns its URI."""
    uri = io.join(metadata_dir(out_uri), f"part-{run_id}-{part:06d}.parquet")
    io.write_bytes_atomic(uri, parquet_bytes(table), storage_options)
    return uri


def write_table_file(table: pa.Table, path: str) -> None:
    """Write a table to a local Parquet file atomically (the fallback ledger, :mod:`pipeline.sink`)."""
    io.write_bytes_atomic(path, parquet_bytes(table))


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def read_all(out_uri: str, storage_options: dict | None = None, columns: list[str] | None = None) -> pa.Table:
    """Every metadata row ever written under ``out_uri`` (all attempts), in part-file order."""
    return read_parts(part_uris(out_uri, storage_options), storage_options, columns)


def part_uris(out_uri: str, storage_options: dict | None = None) -> list[str]:
    """The ledger's part files, sorted by name (which is time order: see :func:`latest_rows`)."""
    return [u for u in io.list_files(metadata_dir(out_uri), storage_options) if _is_part(u)]


def read_parts(parts: list[str], storage_options: dict | None = None, columns: list[str] | None = None) -> pa.Table:
    """The rows of ``parts`` in their order, less those of parts a compacted part replaced (``pipeline.compact``:
    it lists them in its footer, so a compaction cut short before its deletions reads the same)."""
    fields = [SCHEMA.field(c) for c in columns] if columns else list(SCHEMA)
    schema = pa.schema(fields)
    compacted_uris = [u for u in parts if is_compacted(u)]
    compacted = dict(zip(compacted_uris, io.read_many(compacted_uris, storage_options)))
    replaced = {name for data in compacted.values() for name in replaced_by(data)}
    rest = [u for u in parts if u not in compacted and part_name(u) not in replaced]
    rest_data = io.read_many(rest, storage_options)
    tables = [_read_part(compacted[u] if u in compacted else next(rest_data), schema)
              for u in parts if u in compacted or part_name(u) not in replaced]  # fmt: skip
    return pa.concat_tables(tables) if tables else schema.empty_table()


def is_compacted(uri: str) -> bool:
    return part_name(uri).endswith(COMPACTED_SUFFIX)


def replaced_by(data: bytes) -> list[str]:
    """The part names a compacted part's footer says it replaces ([] for any other part)."""
    meta = pq.ParquetFile(pa.BufferReader(data)).schema_arrow.metadata or {}
    return json.loads(meta.get(REPLACES_KEY, b"[]"))


def _is_part(uri: str) -> bool:
    name = part_name(uri)
    return name.startswith("part-") and name.endswith(".parquet")


def part_name(uri: str) -> str:
    """The file name of a part's URI."""
    return uri.rsplit("/", 1)[-1]


def _read_part(data: bytes, schema: pa.Schema) -> pa.Table:
    part = pq.ParquetFile(pa.BufferReader(data))
    present = set(part.schema_arrow.names)  # only the columns asked for are decoded (the resume check reads 6 of 49)
    table = part.read(columns=[f.name for f in schema if f.name in present])
    # Parts from older versions may lack newer columns: fill them with nulls.
    return pa.table(
        [table[f.name].cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type) for f in schema],
        schema=schema,
    )


def latest_rows(table: pa.Table) -> pa.Table:
    """One row per id: the latest ``ok`` row, else the latest row.

    "Latest" is table order: :func:`read_all` reads parts sorted by name, and part names start
    with the run id, which sorts by start time.
    """
    ids, statuses = table[ID].to_pylist(), table[STATUS].to_pylist()
    best: dict[str, tuple[bool, int]] = {}
    for index, (row_id, status) in enumerate(zip(ids, statuses)):
        key = (status == STATUS_OK, index)
        if row_id not in best or key > best[row_id]:
            best[row_id] = key
    return table.take(pa.array(sorted(index for _, index in best.values()), type=pa.int64()))
