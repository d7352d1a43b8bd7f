"""Ray job entrypoint: scan a prefix for unrestored images, write the manifest, restore them.

``python -m pipeline.entrypoints.scan_then_run --prefix s3://archive/incoming
--manifest s3://archive/manifests/run.parquet --settings '{"out_uri": "s3://archive/restored", "op": "colorize"}'
[--since 2026-11-01] [--pages]``

A ledger of 100 parts or more is compacted first (``pipeline.compact``).
The out folder's metadata is the ledger, so images restored by earlier runs are left out; with
nothing new the job writes an empty manifest and ends successfully without starting Ray Data. A run that cannot
start or finish is one line with ``run_job``'s exit codes (2 refused, 1 no Ray, 3 OUT lost, 130/143 interrupted).
Used by ``infra/kuberay/rayjob.yaml``; the Kubernetes CronJob instead runs ``ddnm-batch scan`` and
``ddnm-batch submit`` (so each scheduled slot has a deterministic submission id).
"""

from __future__ import annotations

import argparse
import sys

from ..compact import MANY_PARTS, CompactionConflict, compact
from ..job_spec import from_json
from ..scan import ScanSettings, manifest_table, parse_since, scan, write_manifest
from .run_job import run_to_exit_code


def main(prefix_uri: str, manifest_uri: str, settings_json: str, since: str | None = None, pages: bool = False) -> int:
    """Scan, write the manifest, run; exit codes and one-line errors as ``pipeline.entrypoints.run_job``'s."""
    try:
        settings = from_json(settings_json, manifest_uri=manifest_uri)
        _compact(settings.out_uri, settings.storage_options)
        found = scan(ScanSettings(
            prefix_uri=prefix_uri,
            since=parse_since(since) if since else None,
            ledger_uri=settings.out_uri,
            storage_options=settings.storage_options,
            pages=pages,
        ))  # fmt: skip
        write_manifest(manifest_table(found.new, settings.op), manifest_uri, settings.storage_options)
    except ValueError as exc:  # bad settings or --since, a prefix that cannot be listed
        print(f"error: {exc}", flush=True)
        return 2
    print(f"scan {prefix_uri}: {found.listed} images{found.later_pages_phrase}, {found.restored} already restored, "
          f"{found.older} older than --since, {len(found.new)} new -> {manifest_uri}", flush=True)  # fmt: skip
    if not found.new:
        return 0
    return run_to_exit_code(settings_json, manifest_uri=manifest_uri)


def _compact(out_uri: str, storage_options: dict) -> None:
    """Merge a ledger of many parts first (``pipeline.compact``), so the scan and the run each read one part; a
    failure only says so: the ledger reads the same either way."""
    try:
        merged = compact(out_uri, storage_options, min_parts=MANY_PARTS)
    except (OSError, CompactionConflict) as exc:
        print(f"ledger not compacted: {exc}", flush=True)
        return
    if merged.uri:
        print(f"ledger: merged {merged.parts} parts ({merged.rows} rows) into {merged.uri}", flush=True)


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.entrypoints.scan_then_run",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", required=True, help="folder or s3:// prefix to scan")
    parser.add_argument("--manifest", required=True, help="where to write the manifest (.parquet or .csv)")
    parser.add_argument("--settings", required=True, help="JobSettings as JSON; manifest_uri is taken from --manifest")
    parser.add_argument("--since", default=None, help="only files modified at or after this ISO date")
    parser.add_argument("--pages", action="store_true", help="a row for every image of a multi-page TIFF")
    args = parser.parse_args(argv)
    return main(args.prefix, args.manifest, args.settings, args.since, args.pages)


if __name__ == "__main__":
    sys.exit(cli())
