"""Colour on photos of people, one or more colour priors side by side: where a wrong colour shows most (faces).

    python -m benchmarks.colour_people                                  # the bundled colour prior
    python -m benchmarks.colour_people --models OLD.safetensors ddnm-colour-32 --out docs/img/colour_people.jpg

Kodak24's photos of people (``KODAK_PEOPLE``, scored against their truth: PSNR, colourfulness, CIEDE2000 ΔE) and old
portraits from ../shared/eval/historical (no truth: look at them), each at long side 384, coloured as
``ddnm.restore`` colours by default with each prior (its own config's settings, ``benchmarks.colour.colour_method``),
seed 0. The picture has one column per photo: the gray scan, then one row per prior, then the truth where there is
one. Prints a table and appends it to benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from benchmarks.colour import HISTORICAL, SETS, colour_method, load, parse_args as colour_args, quantised, score
from benchmarks.colour_report import _sheet, _thumb
from benchmarks.common import append_result, print_table

ROOT = Path(__file__).resolve().parents[1]
# faces close up (04, 15), a woman full length (18), two people on a beach (12)
KODAK_PEOPLE = ("kodim04", "kodim15", "kodim18", "kodim12")
PORTRAITS = ("Evelyn_Nesbit.jpg", "1860Girls.jpg", "WaltWhitman.jpg", "Unidentified1855.jpg", "InuitWoman1903.png")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["ddnm-colour-32"], help="colour priors: paths or registered names")
    p.add_argument("--out", type=Path, default=ROOT / "docs/img/colour_people.jpg")
    p.add_argument("--photos", nargs="+", default=None, help="only these photos (stems, e.g. kodim15)")
    p.add_argument("--side", type=int, default=160)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--machine", default="2-core CPU (shared)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    import ddnm.models
    from ddnm.operators import make

    priors = [ddnm.models.load(m) for m in args.models]
    methods = [colour_method(prior, colour_args([]))[0] for prior in priors]
    photos = [SETS["kodak24"] / f"{n}.png" for n in KODAK_PEOPLE] + [HISTORICAL / n for n in PORTRAITS]
    photos = [f for f in photos if args.photos is None or f.stem in args.photos]
    columns, scores, gray_delta_e = [], [[] for _ in priors], []  # scores[i]: prior i's rows, one per photo
    for path in photos:
        if not path.exists():
            print(f"skipped {path.name}: not found (the eval photos live in ../shared/eval)", flush=True)
            continue
        x = load(path, 384)
        truth = path.parent != HISTORICAL
        op = make("colorize", tuple(x.shape[1:]))
        y = quantised(op.A(x))
        outs = [quantised(method(y, op, 0).x) for method in methods]
        columns.append([op.A_pinv(y), *outs, *([x] if truth else [])])
        if not truth:
            print(path.stem, flush=True)
            continue
        gray_delta_e.append(score(op.A_pinv(y), x)["delta_e"])
        for rows, out in zip(scores, outs):
            rows.append(score(out, x))
        print(f"{path.stem}: " + " / ".join(f"{rows[-1]['psnr']:.2f} dB" for rows in scores), flush=True)
    if not columns:
        print("error: no eval photos found (../shared/eval)", file=sys.stderr)
        return 2
    height = max(len(c) for c in columns)  # gray, one per prior, truth (old portraits have none: white)
    _sheet([[_thumb(c[i], args.side) if i < len(c) else _thumb(torch.ones_like(c[0]), args.side) for c in columns]
            for i in range(height)], args.out, args.side)  # fmt: skip
    table = []
    for prior, m, s in zip(priors, args.models, scores):
        table.append({"prior": m, "sha256": prior.info.weights_sha256[:12], "kodak people": len(s),
                      "psnr": float(np.mean([r["psnr"] for r in s])) if s else float("nan"),
                      "colourfulness": float(np.mean([r["colourfulness"] for r in s])) if s else float("nan"),
                      "delta_e": float(np.mean([r["delta_e"] for r in s])) if s else float("nan"),
                      "gray_delta_e": float(np.mean(gray_delta_e)) if s else float("nan")})
        append_result("colour_people", {**table[-1], "machine": args.machine})
    print_table("colour on people (Kodak24's people photos; the picture adds old portraits)", table)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
