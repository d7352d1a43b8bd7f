"""Settings of one report build: a frozen dataclass, validated once."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .. import io
from ..settings import DEFAULT_MAX_PIXELS

# Rows per data file: the page loads them one after another, so a big run shows its first rows
# at once and a file stays a few hundred kB.
CHUNK_ROWS = 1000


def default_workers() -> int:
    return min(8, os.cpu_count() or 1)


@dataclass(frozen=True, slots=True)
class ReportSettings:
    """Where the run lives and how to read it.

    ``out_uri`` is the run's ``--out`` (local folder or ``s3://`` prefix); the report goes to
    ``OUT/report/``. ``storage_options`` are fsspec options as for the run (kept out of ``repr``).
    ``max_pixels`` guards decoding as in the run; ``workers`` threads make thumbnails.
    """

    out_uri: str
    storage_options: dict = field(default_factory=dict, repr=False)
    max_pixels: int = DEFAULT_MAX_PIXELS
    workers: int = field(default_factory=default_workers)
    chunk_rows: int = CHUNK_ROWS

    def __post_init__(self) -> None:
        problems = [
            message
            for ok, message in (
                (bool(self.out_uri), f"out_uri must be the run's output folder or URI, got {self.out_uri!r}"),
                (self.max_pixels >= 1, f"max_pixels must be >= 1, got {self.max_pixels}"),
                (self.workers >= 1, f"workers must be >= 1, got {self.workers}"),
                (self.chunk_rows >= 1, f"chunk_rows must be >= 1, got {self.chunk_rows}"),
                (isinstance(self.storage_options, dict), "storage_options must be a dict (a JSON object)"),
            )
            if not ok
        ]
        if problems:
            raise ValueError("invalid report settings: " + "; ".join(problems))

    @property
    def report_uri(self) -> str:
        return io.join(self.out_uri, "report")

    @property
    def index_uri(self) -> str:
        return io.join(self.report_uri, "index.html")
