"""A whole large scan through ``ddnm-batch restore``: wall time and peak memory (RSS) per operator and size.

    python -m benchmarks.big_scan                          # a 41 MP gray plate, colorize
    python -m benchmarks.big_scan --megapixels 10 41 100   # how memory grows with the plate
    python -m benchmarks.big_scan --source /work/shared/eval/historical/Evelyn_Nesbit.jpg

The scan is a photo (default: a historical portrait from /work/shared/eval, read there, never committed) resized
to the size asked, saved as an uncompressed gray TIFF in a temporary folder, and restored by the CLI in a child
process, so the peak RSS is that process's alone (``getrusage(RUSAGE_CHILDREN)`` after each run; one child per
run). Bytes per pixel = peak RSS / pixels; the process's baseline (Python, torch, the priors) is in it. Prints a
table and appends one line per run to benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from benchmarks.common import append_result, print_table

SOURCE = Path("/work/shared/eval/historical/Evelyn_Nesbit.jpg")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", nargs="+", type=float, default=[41.0])
    parser.add_argument("--op", default="colorize")
    parser.add_argument("--source", type=Path, default=SOURCE)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for megapixels in args.megapixels:
            scan, pixels = plate(args.source, megapixels, Path(folder))
            rows.append(run_one(scan, pixels, args.op, Path(folder) / "out.png"))
    print_table(f"ddnm-batch restore --op {args.op}, one large scan", rows)


def plate(source: Path, megapixels: float, folder: Path) -> tuple[Path, int]:
    with Image.open(source) as photo:
        gray = photo.convert("L")
        scale = (megapixels * 1e6 / (gray.width * gray.height)) ** 0.5
        size = (round(gray.width * scale), round(gray.height * scale))
        path = folder / f"plate-{megapixels:g}mp.tif"
        gray.resize(size, Image.BICUBIC).save(path)
    return path, size[0] * size[1]


def run_one(scan: Path, pixels: int, op: str, out: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far, in KiB
    started = time.perf_counter()
    command = [sys.executable, "-m", "pipeline.cli", "restore", str(scan), str(out), "--op", op,
               "--max-pixels", str(2 * pixels)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"restore failed: {done.stderr.strip().splitlines()[-1:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    if peak <= before * 1024:  # not this child's: an earlier one peaked higher (run sizes in ascending order)
        peak = float("nan")
    row = {"op": op, "megapixels": round(pixels / 1e6, 1), "seconds": round(seconds, 1),
           "peak_rss_gb": round(peak / 2**30, 2), "bytes_per_pixel": round(peak / pixels, 1),
           "code": code()}  # fmt: skip
    append_result("big_scan", row)
    return row


def code() -> str:
    """The commit measured, ``+`` when the work tree has changes: memory is a property of the code."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                            ":!benchmarks/results.jsonl"], capture_output=True, text=True)  # fmt: skip
    return head + ("+" if dirty.stdout.strip() else "")


if __name__ == "__main__":
    main()
