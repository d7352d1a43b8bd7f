"""Images/s of the whole pipeline (Ray Data: read, decode, restore, encode, write, Parquet) vs the engine alone.

    python -m benchmarks.pipeline_throughput --images 16 --steps 20            # CPU
    python -m benchmarks.pipeline_throughput --images 256 --steps 100 --device cuda --batch-size 32

Both sides restore the same images (gray scans made from ../shared/corpus, colorize) with the same model, steps and
batch size; the engine side is one process calling ``ddnm.restore`` on pre-decoded tensors. Goal: pipeline ≥ 90%.
Prints a table and appends to benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image, ImageOps

from benchmarks.common import append_result, print_table, sync

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "images"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "images"  # shipped gray scans: a clone alone runs


def make_scans(folder: Path, count: int, size: int, corpus: Path = CORPUS) -> list[Path]:
    """Gray square scans cut from the corpus photos (cycled), written as PNG."""
    sources = sorted([*corpus.glob("*.jpg"), *corpus.glob("*.png")])
    if not sources:
        raise SystemExit(f"no corpus images under {corpus}; pass --corpus")
    paths = []
    for i in range(count):
        with Image.open(sources[i % len(sources)]) as im:
            gray = ImageOps.fit(im.convert("L"), (size, size), Image.Resampling.LANCZOS, centering=((i * 0.37) % 1, 0.5))
        path = folder / f"scan{i:05d}.png"
        gray.save(path)
        paths.append(path)
    return paths


def engine_only(paths: list[Path], args) -> float:
    import numpy as np

    import ddnm
    from ddnm.operators import make

    device = torch.device(args.device)
    model = ddnm.models.load(device=device)
    gray = torch.stack([torch.from_numpy(np.asarray(Image.open(p), dtype=np.float32)) for p in paths])
    y = (gray[:, None] / 127.5 - 1).to(device)
    op = make("colorize", (3, args.size, args.size)).to(device)
    ddnm.restore(y[: args.batch_size], op, model, steps=1)  # warm-up
    sync(device)
    started = time.perf_counter()
    for i in range(0, len(paths), args.batch_size):
        chunk = y[i : i + args.batch_size]
        x, _ = ddnm.restore(chunk, op, model, steps=args.steps, seed=list(range(i, i + len(chunk))))
        x.cpu()
    sync(device)
    return len(paths) / (time.perf_counter() - started)


def pipeline(paths: list[Path], folder: Path, args) -> float:
    from pipeline.run import run_job
    from pipeline.settings import JobSettings

    manifest = folder / "manifest.csv"
    manifest.write_text("id,uri\n" + "".join(f"{p.stem},{p.name}\n" for p in paths))
    settings = JobSettings.of(
        manifest_uri=str(manifest), out_uri=str(folder / "out"), op="colorize", model="bundled",
        steps=args.steps, batch_size=args.batch_size, num_actors=1, device=args.device,
    )
    summary = run_job(settings)
    if summary.ok != len(paths):
        raise SystemExit(f"pipeline restored {summary.ok} of {len(paths)}: {summary.errors_by_type}")
    return len(paths) / summary.elapsed_s


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=16)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--corpus", type=Path, default=CORPUS if CORPUS.is_dir() else EXAMPLES,
                   help="folder of photos to cut the scans from (default ../shared/corpus, else examples/images)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads of the engine side; 1 matches a CPU restore actor (Ray sets OMP_NUM_THREADS=1)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = make_scans(folder, args.images, args.size, args.corpus)
        engine = engine_only(paths, args)
        whole = pipeline(paths, folder, args)
    row = {
        "device": args.device, "corpus": args.corpus.name, "images": args.images, "size": args.size, "steps": args.steps,
        "batch_size": args.batch_size, "threads": args.threads, "engine_img_s": engine, "pipeline_img_s": whole, "ratio": whole / engine,
    }
    print_table("Pipeline vs engine throughput (colorize, bundled prior)", [row])
    append_result("pipeline_throughput", row)


if __name__ == "__main__":
    main()
