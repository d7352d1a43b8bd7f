"""Colorize at a working resolution (``ddnm.colour``) on colour photos the prior never trained on, and on real old photos.

    python -m benchmarks.colour                                    # default: a few minutes on a 2-core CPU
    python -m benchmarks.colour --sets holdout kodak24 set14 --limit 0 --long-side 0 --update-docs   # everything
    python -m benchmarks.colour --historical 15 --ratio           # + the 15 old photos' grid, the 1600-px cost ratio

Per photo (resized so its long side is ``--long-side``; 0 = full size): the gray scan y = A x (channel mean), its
colouring by ``ddnm.colour.restore_colour`` at the user's defaults unless overridden (the prior ``ddnm.restore``
colours with, the bundled prior's colour companion ``ddnm-colour-32``, and its config's settings), and the gray
A⁺y and the training photos' colour-by-gray-level table (``benchmarks/colour_table.py``, no network), scored
against the truth: PSNR, colourfulness (Hasler & Süsstrunk) as a fraction of the truth's, CIEDE2000
ΔE, the largest gray-level error after 8-bit encoding, seconds per megapixel. Sets: the corpus hold-out
(``jobs/holdout.txt``), Kodak24, Set14 (../shared/eval/classic). Writes docs/img/colour_<set>.jpg (gray / tint table /
result / truth thumbnails) and
with ``--historical N`` docs/img/colour_historical.png; appends to benchmarks/results.jsonl; ``--update-docs``
rewrites the ``colour`` section of docs/model_card.md. ``--ratio`` times one 1600-px scan against one 64×64 scan
at the same settings, in the same run.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks.colour_report import grid, historical_grid, markdown, replace_section, summary
from benchmarks.common import append_result, print_table

ROOT = Path(__file__).resolve().parents[1]
SHARED = next((p / "shared" for p in ROOT.parents if (p / "shared" / "eval").is_dir()), ROOT.parent / "shared")
SETS = {"holdout": SHARED / "corpus" / "images", "kodak24": SHARED / "eval" / "classic" / "Kodak24",
        "set14": SHARED / "eval" / "classic" / "Set14"}  # fmt: skip
HISTORICAL = SHARED / "eval" / "historical"
TABLE_METHOD = "tint table (no network)"  # benchmarks.colour_table: the training photos' E[chroma | gray]
OLD_HOLDOUT = ("kphotoalbum-grand-canyon-2.jpg", "mate-two-wings.jpg", "matplotlib-grace-hopper.jpg",
               "plasma-kite.jpg", "sklearn-china.jpg")  # fmt: skip


def holdout_files() -> list[Path]:
    """The corpus photos the bundled prior never trained on (``jobs.photos.holdout_names``, else the first 5)."""
    try:
        from jobs.photos import holdout_names

        names = holdout_names()
    except ImportError:
        names = OLD_HOLDOUT
    return [SETS["holdout"] / n for n in names if (SETS["holdout"] / n).exists()]


def files_of(name: str, limit: int) -> list[Path]:
    files = holdout_files() if name == "holdout" else sorted(p for p in SETS[name].iterdir() if p.suffix == ".png")
    return files[:limit] if limit else files


def load(path: Path, long_side: int) -> torch.Tensor:
    """(1, 3, H, W) in [-1, 1], long side ``long_side`` (0: as stored)."""
    image = Image.open(path).convert("RGB")
    if long_side and max(image.size) != long_side:
        scale = long_side / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS)
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous()


def quantised(x: torch.Tensor) -> torch.Tensor:
    """x as it is written to an 8-bit PNG, back in [-1, 1]."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1


def colour_method(model, args):
    """(y, op, seed) -> x̂ as ``ddnm.restore`` colours by default for ``model``, with the options given in ``args``.

    The prior that colours is ``ddnm.restoring_prior`` (the bundled prior's colour companion); the working size, K,
    steps, η and ``WorkingSize``'s options come from its config unless ``args`` sets them. Returns the method, the
    colouring prior, the resolved ``RestoreSettings`` and the ``WorkingSize`` in force.
    """
    from dataclasses import replace

    import ddnm
    from ddnm.colour import WORKING_OPTIONS, restore_colour, working_size_for
    from ddnm.operators import make
    from ddnm.restore_pass import restore_pass
    from ddnm.settings import RestoreSettings, SamplerSettings, colour_recommendations

    asked = RestoreSettings(sampler=SamplerSettings(steps=args.steps, eta=args.eta), samples=args.samples,
                            work_size=args.work_size)  # fmt: skip
    probe = make("colorize", (3, 64, 64))
    colouring = ddnm.restoring_prior(model, probe, asked)
    restore = asked.for_model(colouring, probe)
    working = working_size_for(colour_recommendations(colouring), restore.work_size, restore.samples)
    working = replace(working, **{k: getattr(args, k) for k in WORKING_OPTIONS if getattr(args, k) is not None})

    def sample(y_work, op_work, seeds):
        return restore_pass(y_work, op_work, colouring, restore, seeds).x

    def method(y, op, seed: int):
        return restore_colour(y, op, sample, [seed], working)

    return method, colouring, restore, working


def score(x_hat: torch.Tensor, x: torch.Tensor) -> dict:
    from skimage.color import deltaE_ciede2000, rgb2lab

    from ddnm.metrics import colourfulness, psnr

    def lab(t):
        return rgb2lab(((t[0].permute(1, 2, 0).double().numpy() + 1) / 2).clip(0, 1))

    return {"psnr": float(psnr(x_hat, x)[0]), "colourfulness": float(colourfulness(x_hat)[0]),
            "delta_e": float(np.mean(deltaE_ciede2000(lab(x_hat), lab(x))))}  # fmt: skip


def run_set(name: str, method, args, table: torch.Tensor | None = None) -> tuple[list[dict], list[tuple]]:
    """Score ``method`` (and gray A⁺y, and with ``table`` the no-network tint table) on every photo of a set."""
    from benchmarks.colour_table import table_colour
    from ddnm.operators import make

    rows, pictures = [], []
    for path in files_of(name, args.limit):
        x = load(path, args.long_side)
        if float((x - x.mean(dim=1, keepdim=True)).abs().max()) < 2 / 255:
            continue  # a gray photo (Set14 has some): no colour to score, and gray A⁺y would be exact
        op = make("colorize", tuple(x.shape[1:]))
        y = quantised(op.A(x))  # the scan as an 8-bit file holds it
        started = time.perf_counter()
        out = method(y, op, 0)
        seconds = time.perf_counter() - started
        written = quantised(out.x)
        gray = op.A_pinv(y)
        megapixels = x.shape[-2] * x.shape[-1] / 1e6
        common = {"set": name, "image": path.stem, "width": x.shape[-1], "height": x.shape[-2]}
        photo = [{**common, "method": "gray A⁺y", **score(gray, x)}]
        shots = [gray]
        if table is not None:
            shots.append(quantised(table_colour(y, table)))
            photo.append({**common, "method": TABLE_METHOD, **score(shots[-1], x)})
        photo.append({**common, "method": "colour", **score(written, x), "s_per_mp": seconds / megapixels,
                      "gray_err_255": float((op.A(written) - y).abs().max() * 127.5),
                      "uncertainty": float(out.uncertainty[0]) if out.uncertainty is not None else float("nan")})
        truth = score(x, x)["colourfulness"]
        for row in photo:
            row["colourfulness_gt"] = truth
        rows += photo
        pictures.append((*shots, written, x))  # gray | tint table (with a corpus) | colour | truth
        print(f"{name} {path.stem}: {photo[-1]['psnr']:.2f} dB (gray {photo[0]['psnr']:.2f}), colourfulness "
              f"{photo[-1]['colourfulness']:.1f} (truth {truth:.1f}), {seconds:.1f} s", flush=True)  # fmt: skip
    return rows, pictures


def cost_ratio(method) -> dict:
    """Seconds for one 1600×1200 gray scan over seconds for one 64×64 scan, same settings, same run."""
    from ddnm.operators import make

    times = {}
    for h, w in ((64, 64), (1200, 1600), (64, 64)):
        y = torch.rand(1, 1, h, w, generator=torch.Generator().manual_seed(0)) * 2 - 1
        op = make("colorize", (3, h, w))
        started = time.perf_counter()
        method(y, op, 0)
        times.setdefault((h, w), []).append(time.perf_counter() - started)
    small, large = min(times[(64, 64)]), times[(1200, 1600)][0]
    return {"s_64": small, "s_1600": large, "ratio": large / small}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sets", nargs="+", default=["holdout", "kodak24", "set14"], choices=sorted(SETS))
    p.add_argument("--limit", type=int, default=4, help="photos per set (0 = all)")
    p.add_argument("--long-side", type=int, default=384, help="resize photos to this long side (0 = full size)")
    # None: what the user's defaults use (the colouring prior's config), as ddnm.restore resolves it
    p.add_argument("--work-size", type=int, default=None)
    p.add_argument("--samples", type=int, default=None)
    p.add_argument("--shrink", type=float, default=None)
    p.add_argument("--radius", type=int, default=None)
    p.add_argument("--eps", type=float, default=None)
    p.add_argument("--saturation", type=float, default=None, help="posterior-mean chroma times this")
    p.add_argument("--cast", type=float, default=None, help="share of the colour's global tint kept")
    p.add_argument("--stretch", type=int, choices=(0, 1), default=None,
                   help="1: working image size × size whatever the photo's aspect; 0: keep the aspect")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--eta", type=float, default=None)
    p.add_argument("--model", default=None, help="weights path or name (default: the bundled prior, which colours "
                                                 "with its colour companion)")
    p.add_argument("--historical", type=int, default=0, help="also colour this many of ../shared/eval/historical")
    p.add_argument("--ratio", action="store_true", help="also time a 1600-px scan against a 64×64 one")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tag", default="", help="suffix for the pictures (keeps a second configuration)")
    p.add_argument("--machine", default="2-core CPU (shared)")
    p.add_argument("--no-pictures", action="store_true")
    p.add_argument("--no-table", action="store_true", help="skip the no-network tint-table baseline "
                   "(benchmarks/colour_table.py; also skipped where there is no corpus)")
    p.add_argument("--update-docs", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> None:
    import ddnm.models

    from benchmarks.colour_table import corpus_table

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    model = ddnm.models.load(args.model)
    if args.stretch is not None:
        args.stretch = bool(args.stretch)
    method, colouring, restore, working = colour_method(model, args)
    config = {"work_size": working.size, "samples": working.samples, "shrink": working.shrink,
              "radius": working.radius, "eps": working.eps, "saturation": working.saturation,
              "cast": working.cast, "stretch": working.stretch, "steps": restore.sampler.steps,
              "eta": restore.sampler.eta, "long_side": args.long_side, "prior": colouring.info.name,
              "prior_sha256": colouring.info.weights_sha256[:12], "machine": args.machine}  # fmt: skip
    all_rows, pictures = [], {}
    tint = None if args.no_table else corpus_table()
    for name in args.sets:
        rows, pictures[name] = run_set(name, method, args, tint)
        all_rows += rows
    table = summary(all_rows)
    print_table("colour: mean over photos", table)
    for row in table:
        append_result("colour", {**config, **row})
    extra = {}
    if args.ratio:
        extra["ratio"] = cost_ratio(method)
        print(f"cost of a 1600×1200 scan / a 64×64 scan: {extra['ratio']}")
        append_result("colour_cost_ratio", {**config, **extra["ratio"]})
    suffix = f"_{args.tag}" if args.tag else ""
    if not args.no_pictures:
        for name, shots in pictures.items():
            grid(shots, ROOT / "docs" / "img" / f"colour_{name}{suffix}.jpg")
        if args.historical:
            historical_grid(sorted(HISTORICAL.iterdir())[: args.historical], method,
                            ROOT / "docs" / "img" / f"colour_historical{suffix}.jpg")
    if args.update_docs:
        text = markdown(table, config, extra, shlex.join(["python", "-m", "benchmarks.colour", *sys.argv[1:]]))
        replace_section(ROOT / "docs" / "model_card.md", "colour", text)


if __name__ == "__main__":
    main()
