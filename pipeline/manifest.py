"""Read and validate a job manifest (CSV or Parquet, local or remote) before any work starts.

Columns: ``id`` (unique, required), ``uri`` (required), optional ``op``, ``mask_uri``,
``params`` (a JSON object string, e.g. ``{"scale": 4}``), ``file_page`` (which full-resolution image of a
multi-page TIFF or an animation to restore, from 1; empty = the first: list a file twice, with ids of their own,
to restore its recto and its verso) and ``negative`` (yes/true/1: the scan is of a negative, a glass plate or film,
restored as its positive; no/false/0; empty = the run's ``--negative``); every other column is carried through to
the metadata's ``extra`` column as JSON. CSV cells are read as text, so ids like ``007`` keep their zeros.
Relative ``uri``/``mask_uri`` values are taken relative to the manifest's folder.
Spreadsheets are met where they are: a CSV (or ``.tsv``) may be separated by commas, semicolons (Excel's CSV
where the decimal mark is a comma), tabs or bars, and the known column names may be written in any case (``ID``,
``URI``).
Every problem in the manifest is reported at once, in one :class:`ManifestError`.
"""

from __future__ import annotations

import csv
import io as stdio
import json
from dataclasses import asdict, dataclass

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import io
from .ops import PLANS, check_op, engine_operator_names

REQUIRED = ("id", "uri")
KNOWN = ("id", "uri", "op", "mask_uri", "params", "file_page", "negative")
MAX_LISTED = 20  # problems quoted in the error; the rest are counted
YES, NO = ("1", "1.0", "true", "yes", "y", "t", "x"), ("0", "0.0", "false", "no", "n", "f")  # how spreadsheets say it
DELIMITERS = (",", ";", "\t", "|")  # the first is the default; another wins only by reading the header better


class ManifestError(ValueError):
    """The manifest cannot be used; the message lists every offending row."""


@dataclass(frozen=True, slots=True)
class ManifestRow:
    """One validated row. ``params`` and ``extra`` are canonical JSON (sorted keys)."""

    id: str
    uri: str
    op: str
    mask_uri: str = ""
    params: str = "{}"
    extra: str = "{}"
    file_page: int = 0  # 0: the file's first full-resolution image (pipeline.decode)
    negative: bool = False  # a negative's scan: restored as its positive (pipeline.decode.inverted)

    def to_item(self) -> dict:
        return asdict(self)


def read_manifest(uri: str, default_op: str | None = None, storage_options: dict | None = None,
                  default_negative: bool = False) -> list[ManifestRow]:  # fmt: skip
    """Read, validate and resolve ``uri``; raise :class:`ManifestError` listing all problems. ``default_op`` and
    ``default_negative`` hold for rows whose cell is empty (or that lack the column)."""
    table = _known_names(read_table(uri, storage_options))
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise ManifestError(
            f"manifest {uri} lacks required column(s) {missing}; it has {table.column_names}. "
            "Add an 'id' column (unique key) and a 'uri' column (image path or URL)."
        )
    return validate_rows(table.to_pylist(), default_op, base_dir=io.parent(uri), manifest_uri=uri,
                         default_negative=default_negative)  # fmt: skip


def read_table(uri: str, storage_options: dict | None = None) -> pa.Table:
    """The manifest as a table of its cells; CSV cells stay text."""
    try:
        data = io.read_bytes(uri, storage_options)
    except (OSError, ValueError) as exc:
        raise ManifestError(f"cannot read manifest {uri}: {exc}; check the path and storage options") from exc
    lower = uri.lower()
    try:
        if lower.endswith((".parquet", ".pq")):
            return pq.read_table(pa.BufferReader(data))
        if lower.endswith((".csv", ".tsv")):
            return _read_csv(data)
    except UnicodeDecodeError as exc:
        raise ManifestError(f"manifest {uri} is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV") from exc
    except (pa.ArrowException, csv.Error) as exc:
        raise ManifestError(f"cannot parse manifest {uri}: {exc}") from exc
    raise ManifestError(f"manifest {uri} must end in .csv, .tsv or .parquet")


def _read_csv(data: bytes) -> pa.Table:
    # utf-8-sig drops a byte-order mark, so a file holding only a BOM (and blank lines) counts as empty.
    text = data.decode("utf-8-sig")
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    if not first_line:
        raise ManifestError("manifest is empty; expected a header line with at least 'id,uri'")
    splits = {d: next(csv.reader(stdio.StringIO(first_line), delimiter=d)) for d in DELIMITERS}
    delimiter = max(DELIMITERS, key=lambda d: _header_score(splits[d]))  # max keeps the first of equals: the comma
    convert = pacsv.ConvertOptions(column_types={name: pa.string() for name in splits[delimiter]},
                                   strings_can_be_null=False)  # fmt: skip
    return pacsv.read_csv(pa.BufferReader(data), parse_options=pacsv.ParseOptions(delimiter=delimiter),
                          convert_options=convert)  # fmt: skip


def _header_score(fields: list[str]) -> tuple[bool, int]:
    """A split of the header line: one that finds ``id`` and ``uri`` beats one that does not (a comma header whose
    last name holds semicolons), then more fields beat fewer."""
    names = {f.strip().lower() for f in fields}
    return all(r in names for r in REQUIRED), len(fields)


def _known_names(table: pa.Table) -> pa.Table:
    """``ID``, ``Uri `` … renamed to the known column they spell (where that column is not there already)."""
    names = list(table.column_names)
    for index, name in enumerate(names):
        known = name.strip().lower()
        if known in KNOWN and name != known and known not in names:
            names[index] = known
    return table.rename_columns(names)


def validate_rows(
    records: list[dict], default_op: str | None, base_dir: str, manifest_uri: str = "manifest",
    default_negative: bool = False,
) -> list[ManifestRow]:
    """Turn raw records into rows; collect every problem and raise them together."""
    engine_names = engine_operator_names()
    rows, problems, first_seen = [], [], {}
    for number, record in enumerate(records, start=1):
        row, row_problems = _validate_one(record, default_op, engine_names, base_dir, default_negative)
        row_id = _cell(record.get("id"))
        if row_id and row_id in first_seen:
            row_problems.append(f"duplicate id (first at row {first_seen[row_id]})")
        first_seen.setdefault(row_id, number)
        problems += [f"row {number} (id {_cell(record.get('id'))!r}): {p}" for p in row_problems]
        rows.append(row)
    if not records:
        problems.append("the manifest has no rows")
    if problems:
        raise ManifestError(_summarize(manifest_uri, problems))
    return rows


def _validate_one(record: dict, default_op, engine_names: set[str], base_dir: str, default_negative: bool = False):
    problems = []
    row_id, uri = _cell(record.get("id")), _cell(record.get("uri"))
    op = _cell(record.get("op")) or (default_op or "")
    if not row_id:
        problems.append("empty id")
    if not uri:
        problems.append("empty uri")
    if not op:
        problems.append("no op in the row and no default op; pass --op or fill the 'op' column")
    elif (reason := check_op(op, engine_names)) is not None:
        problems.append(reason)
    params, reason = _parse_params(_cell(record.get("params")))
    if reason:
        problems.append(reason)
    page, reason = _parse_page(_cell(record.get("file_page")))
    if reason:
        problems.append(reason)
    negative, reason = _parse_yes_no("negative", _cell(record.get("negative")), default_negative)
    if reason:
        problems.append(reason)
    mask_uri = _cell(record.get("mask_uri"))
    if op in PLANS and PLANS[op].needs_mask and not mask_uri:
        problems.append(f"operator {op!r} needs a mask; fill the 'mask_uri' column")
    if problems:
        return None, problems
    extra = {k: v for k, v in record.items() if k not in KNOWN}
    return ManifestRow(
        id=row_id,
        uri=io.resolve(uri, base_dir),
        op=op,
        mask_uri=io.resolve(mask_uri, base_dir) if mask_uri else "",
        params=json.dumps(params, sort_keys=True, separators=(",", ":")),
        extra=json.dumps(extra, sort_keys=True, default=str),
        file_page=page,
        negative=negative,
    ), []


def _parse_params(text: str) -> tuple[dict, str | None]:
    if not text:
        return {}, None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return {}, f"params is not valid JSON ({exc.msg} at char {exc.pos}): {text!r}"
    if not isinstance(value, dict):
        return {}, f'params must be a JSON object like {{"scale": 4}}, got {text!r}'
    return value, None


def _parse_page(text: str) -> tuple[int, str | None]:
    if not text:
        return 0, None
    try:
        page = float(text)  # a spreadsheet may write 2 as 2.0
    except ValueError:
        page = 0.0
    if page < 1 or not page.is_integer():
        return 0, f"file_page must be a whole number from 1 (the file's first image), got {text!r}"
    return int(page), None


def _parse_yes_no(column: str, text: str, default: bool) -> tuple[bool, str | None]:
    if not text:
        return default, None
    if text.lower() in YES or text.lower() in NO:
        return text.lower() in YES, None
    return default, f"{column} must be yes or no (true/false, 1/0), got {text!r}"


def _cell(value) -> str:
    return "" if value is None else str(value).strip()


def _summarize(manifest_uri: str, problems: list[str]) -> str:
    listed = problems[:MAX_LISTED]
    more = len(problems) - len(listed)
    tail = [f"... and {more} more"] if more else []
    return "\n".join([f"manifest {manifest_uri} has {len(problems)} problem(s):", *listed, *tail])


def check_outputs_do_not_overwrite_inputs(rows: list[ManifestRow], out_uri: str, output_uri_for) -> None:
    """Raise :class:`ManifestError` if ``out_uri`` or any row's output is one of the inputs."""
    inputs = {io.normalize(u): r.id for r in rows for u in (r.uri, r.mask_uri) if u}
    problems = []
    if io.normalize(out_uri) in inputs:
        problems.append(f"the output location {out_uri} is an input file (row id {inputs[io.normalize(out_uri)]!r})")
    for row in rows:
        target = io.normalize(output_uri_for(row.id))
        if target in inputs:
            victim = inputs[target]
            problems.append(f"row id {row.id!r}: output {target} would overwrite the input of row id {victim!r}")
    if problems:
        raise ManifestError(_summarize(out_uri, problems) + "\nChoose another --out folder.")
