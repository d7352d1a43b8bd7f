"""Rows as they travel between Ray stages: plain dicts inside a stage, typed NumPy columns between.

Stages return NumPy columns with fixed dtypes and sentinels instead of ``None`` (``""`` for text
and bytes, NaN for floats, -1 for integers), so Ray never has to guess an Arrow type from a
column of mixed ``None`` and values. :mod:`pipeline.metadata` turns sentinels back into nulls.
A failed row keeps travelling with ``status = "error"``; later stages pass it through untouched.
"""

from __future__ import annotations

import io as stdio

import numpy as np

STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_SKIPPED = "skipped"  # restored before with the same input and settings (pipeline.ledger); not recorded again
OUTPUT_WRITE_FAILED = "OutputWriteFailed"  # error_type of a row whose image could not be written to OUT
ANY_MASK = "*"  # resume_mask_sha256 when the earlier row has no mask hash (no mask, or an older version)

# Column kinds of every column a stage may emit; anything else is an object column.
FLOAT_COLUMNS = (
    "decode_s", "restore_s", "encode_s", "started_at", "finished_at", "consistency_residual", "seam_ratio",
    "uncertainty", "eta", "dpi_x", "dpi_y", "output_dpi", "sigma_y", "colour_strength",
)
INT_COLUMNS = (
    "input_width", "input_height", "input_pages", "input_page", "file_page", "output_width", "output_height",
    "output_bits", "output_channels",
    "steps", "seed", "tiles", "samples", "work_size", "start_t",
)
BOOL_COLUMNS = ("input_icc", "output_icc", "negative", "input_negative")
BYTES_COLUMNS = ("pixels_npy", "mask_npy", "restored_npy", "icc_profile")

# The columns each stage emits, fixed so every block of a stage has the same schema.
MANIFEST_COLUMNS = ["id", "uri", "op", "mask_uri", "params", "extra", "file_page", "negative"]
ROW_COLUMNS = [
    "id", "source_uri", "mask_uri", "op", "params", "extra", "file_page", "negative", "status", "error_type",
    "error_message",
]
INPUT_COLUMNS = [
    "input_sha256", "mask_sha256", "input_width", "input_height", "input_mode", "input_icc", "input_pages",
    "input_page", "input_negative", "decode_s", "started_at",
]
# What the output inherits travels to the encoder, not into the ledger (which notes only ``input_icc``): the scan's
# ICC profile, its title/creator/rights as JSON (pipeline.descriptive), and its resolution in pixels an inch.
CARRIED_COLUMNS = ["icc_profile", "descriptive", "dpi_x", "dpi_y"]
DECODED_COLUMNS = ROW_COLUMNS + INPUT_COLUMNS + ["pixels_npy", "mask_npy"] + CARRIED_COLUMNS
RESTORE_COLUMNS = [
    "consistency_residual", "seam_ratio", "tiles", "restore_s", "model_name", "weights_sha256", "steps", "seed", "worker",
    "samples", "uncertainty", "eta", "work_size", "start_t", "sigma_y", "colour_strength",
]
RESTORED_COLUMNS = ROW_COLUMNS + INPUT_COLUMNS + RESTORE_COLUMNS + ["restored_npy"] + CARRIED_COLUMNS
OUTPUT_COLUMNS = [
    "output_uri", "output_sha256", "output_width", "output_height", "output_bits", "output_channels", "output_icc",
    "output_dpi",
    "encode_s", "finished_at",
]
ENCODED_COLUMNS = ROW_COLUMNS + INPUT_COLUMNS + RESTORE_COLUMNS + OUTPUT_COLUMNS


class RowError(Exception):
    """A problem with one row: it becomes an error row, and the job goes on."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def error_fields(exc: BaseException) -> dict:
    """The ``status``/``error_type``/``error_message`` fields for an exception."""
    if isinstance(exc, RowError):
        return {"status": STATUS_ERROR, "error_type": exc.error_type, "error_message": exc.message}
    return {"status": STATUS_ERROR, "error_type": type(exc).__name__, "error_message": str(exc) or repr(exc)}


def to_rows(batch: dict[str, np.ndarray]) -> list[dict]:
    """Columns to a list of row dicts with plain Python values (the batch is left alone)."""
    keys = list(batch)
    if not keys:
        return []
    columns = [batch[k].tolist() if isinstance(batch[k], np.ndarray) else list(batch[k]) for k in keys]
    return [dict(zip(keys, values)) for values in zip(*columns)]


def from_rows(rows: list[dict], keys: list[str]) -> dict[str, np.ndarray]:
    """Row dicts to a NEW dict of typed NumPy columns ``keys``; missing values become sentinels."""
    return {k: _column(k, [r.get(k) for r in rows]) for k in keys}


def _column(key: str, values: list) -> np.ndarray:
    if key in FLOAT_COLUMNS:
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    if key in INT_COLUMNS:
        return np.array([-1 if v is None else int(v) for v in values], dtype=np.int64)
    if key in BOOL_COLUMNS:
        return np.array([bool(v) for v in values], dtype=bool)
    empty = b"" if key in BYTES_COLUMNS else ""
    out = np.empty(len(values), dtype=object)
    out[:] = [empty if v is None else v for v in values]
    return out


def pack_array(array: np.ndarray) -> bytes:
    """An array as ``.npy`` bytes: self-describing (dtype, shape), no pickle."""
    buffer = stdio.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def unpack_array(data: bytes) -> np.ndarray:
    return np.load(stdio.BytesIO(data), allow_pickle=False)
