"""Find the images under a prefix that are not restored yet, and write them as a manifest.

``scan(settings)`` lists every file under ``prefix_uri`` (fsspec ``find``), keeps image
extensions, drops hidden files, files older than ``since`` and files inside the output folder,
and drops ids that the metadata ledger of ``ledger_uri`` (an ``--out`` folder) already counts as
finished (:func:`pipeline.ledger.finished_ids`: latest row ``ok`` and output still present).

Ids are the object key relative to the prefix (``2024/box-3/plate-017.tif``): readable, unique
under the prefix, and the same on every scan, so the ledger recognises finished work. Use one
output folder per input prefix. Files whose store reports no modification time are kept by
``since`` (they cannot be shown to be old).

With ``pages``, each TIFF is opened (its directory chain, not its pixels: ``pipeline.pages``) and one that holds
more than one full-resolution image (recto and verso) is listed once per image: the first keeps the file's id, so
an earlier ledger still recognises it, and image N is ``<id>#page=N`` (a PDF's open parameter) with ``file_page`` N.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import io, ledger
from .pages import MULTI_PAGE_EXTENSIONS, count_pages

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".jp2", ".j2k", ".jpf", ".jpx")


@dataclass(frozen=True, slots=True)
class ScanSettings:
    """``since``: keep files modified at or after it (UTC). ``ledger_uri``: an output folder."""

    prefix_uri: str
    since: datetime | None = None
    ledger_uri: str | None = None
    extensions: tuple[str, ...] = IMAGE_EXTENSIONS
    storage_options: dict = field(default_factory=dict, repr=False)
    pages: bool = False  # list every full-resolution image of a multi-page TIFF (opens each TIFF)

    def __post_init__(self) -> None:
        if not self.prefix_uri:
            raise ValueError("prefix_uri must be a folder path or URI such as s3://bucket/scans, got ''")
        if self.since is not None and self.since.tzinfo is None:
            raise ValueError(f"since must be timezone-aware (use parse_since), got {self.since!r}")
        if not self.extensions or any(not e.startswith(".") for e in self.extensions):
            raise ValueError(f"extensions must be a non-empty list like ('.png', '.tif'), got {self.extensions!r}")


@dataclass(frozen=True, slots=True)
class ScannedImage:
    id: str
    uri: str
    size: int
    modified: datetime | None
    page: int = 0  # the manifest's file_page: 0 = the file's first image (and the file's only row)


@dataclass(frozen=True, slots=True)
class ScanResult:
    new: tuple[ScannedImage, ...]
    listed: int  # image files under the prefix
    older: int  # dropped by ``since``
    restored: int  # dropped by the ledger
    later_pages: int = 0  # rows for the second and later images of multi-page files (with ``pages``)

    @property
    def later_pages_phrase(self) -> str:
        """`` (and N later pages of multi-page TIFFs)`` where there are any, for the summary lines; else ""."""
        return f" (and {self.later_pages} later pages of multi-page TIFFs)" if self.later_pages else ""


def parse_since(text: str) -> datetime:
    """``2026-11-01`` or ``2026-11-01T08:00[+02:00]`` as an aware datetime (naive means UTC)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"--since must be an ISO date or date-time such as 2026-11-01, got {text!r}") from exc
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def scan(settings: ScanSettings) -> ScanResult:
    images = list_images(settings)
    recent = [i for i in images if settings.since is None or i.modified is None or i.modified >= settings.since]
    listed = with_pages(recent, settings.storage_options) if settings.pages else recent
    finished = ledger.finished_ids(settings.ledger_uri, settings.storage_options) if settings.ledger_uri else {}
    new = tuple(i for i in listed if i.id not in finished)
    return ScanResult(new=new, listed=len(images), older=len(images) - len(recent), restored=len(listed) - len(new),
                      later_pages=len(listed) - len(recent))  # fmt: skip


def with_pages(images: list[ScannedImage], storage_options: dict | None = None) -> list[ScannedImage]:
    """``images`` with a row for each later full-resolution image of a multi-page TIFF, after its file's row."""
    tiffs = [i for i in images if i.id.lower().endswith(MULTI_PAGE_EXTENSIONS)]
    counts = dict(zip((i.id for i in tiffs), count_pages([i.uri for i in tiffs], storage_options)))
    out = []
    for image in images:
        out.append(image)
        later = range(2, counts.get(image.id, 1) + 1)
        out += [replace(image, id=f"{image.id}#page={page}", page=page) for page in later]
    return out


def list_images(settings: ScanSettings) -> list[ScannedImage]:
    """Image files under the prefix, sorted by id (hidden files and the output folder skipped)."""
    fs, root = io.filesystem_for(settings.prefix_uri, settings.storage_options)
    root = root.rstrip("/")
    try:
        entries = fs.find(root, detail=True)
    except FileNotFoundError:
        return []
    protocol = "" if io.is_local(settings.prefix_uri) else settings.prefix_uri.split("://", 1)[0] + "://"
    skip = io.normalize(settings.ledger_uri) + "/" if settings.ledger_uri else None
    images = []
    for path, info in entries.items():
        relative = posixpath.relpath(path, root)
        uri = protocol + path
        if info.get("type", "file") != "file" or not _is_image(relative, settings.extensions):
            continue
        if skip and io.normalize(uri).startswith(skip):
            continue  # our own outputs when the output folder sits under the prefix
        images.append(ScannedImage(id=relative, uri=uri, size=int(info.get("size") or 0), modified=modified_time(info)))
    return sorted(images, key=lambda i: i.id)


def _is_image(relative: str, extensions: tuple[str, ...]) -> bool:
    hidden = any(part.startswith(".") for part in relative.split("/"))
    return not hidden and relative.lower().endswith(tuple(e.lower() for e in extensions))


def modified_time(info: dict) -> datetime | None:
    """The modification time from an fsspec ``info`` dict, whatever the store calls it."""
    for key in ("LastModified", "mtime", "last_modified", "updated", "modified"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, timezone.utc)
        if isinstance(value, str) and value:
            try:
                return parse_since(value.replace("Z", "+00:00"))
            except ValueError:
                continue  # a format we do not know: try the next key
    return None


def manifest_table(images: tuple[ScannedImage, ...] | list[ScannedImage], op: str | None = None) -> pa.Table:
    """Manifest columns ``id, uri[, op][, file_page], size, modified`` (the last two reach ``extra``)."""
    columns = {"id": [i.id for i in images], "uri": [i.uri for i in images]}
    if op:
        columns["op"] = [op] * len(images)
    if any(i.page for i in images):
        columns["file_page"] = [str(i.page) if i.page else "" for i in images]
    columns["size"] = [str(i.size) for i in images]
    columns["modified"] = [i.modified.isoformat() if i.modified else "" for i in images]
    return pa.table({k: pa.array(v, type=pa.string()) for k, v in columns.items()})


def check_manifest_name(uri: str) -> None:
    if not uri.lower().endswith((".parquet", ".pq", ".csv")):
        raise ValueError(f"manifest {uri} must end in .parquet or .csv (the format is taken from the name)")


def write_manifest(table: pa.Table, uri: str, storage_options: dict | None = None) -> None:
    """Write a ``.parquet`` or ``.csv`` manifest atomically."""
    check_manifest_name(uri)
    sink = pa.BufferOutputStream()
    if uri.lower().endswith(".csv"):
        pacsv.write_csv(table, sink)
    else:
        pq.write_table(table, sink)
    io.write_bytes_atomic(uri, sink.getvalue().to_pybytes(), storage_options)
