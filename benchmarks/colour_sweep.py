"""Tune the colour path on held-out photos: K samples at the working size drawn once, every λ and saturation scored.

    python -m benchmarks.colour_sweep --model ddnm-colour-32 --samples 8 16 --shrink 0 0.02 --saturation 1 1.3 1.6
    python -m benchmarks.colour_sweep --model ddnm-colour-32 --steps 20 50 --stretch 0 1 --limit 10

The spread shrink λ, the saturation and K (a prefix of the same seeds) act after sampling, so for each photo and
each (steps, η, working shape) the largest K is sampled once (``ddnm.colour.restore_colour``'s seeds) and every
combination is scored on it: PSNR and ΔE2000 against the truth next to the gray A⁺y's, colourfulness as a fraction
of the truth's (``benchmarks.colour``'s scoring). The chosen values go into the colour prior's config
(docs/model_card.md, "Colour prior"). Rows go to ``--out`` (JSON lines) and a mean table is printed.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import defaultdict

import numpy as np
import torch

from benchmarks.colour import files_of, load, quantised, score
from benchmarks.common import print_table


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="ddnm-colour-32", help="the prior that colours (path or registered name)")
    p.add_argument("--sets", nargs="+", default=["holdout"])
    p.add_argument("--limit", type=int, default=0, help="photos per set (0 = all)")
    p.add_argument("--long-side", type=int, default=384)
    p.add_argument("--work-size", type=int, default=32)
    p.add_argument("--stretch", type=int, nargs="+", default=[1], choices=(0, 1))
    p.add_argument("--steps", type=int, nargs="+", default=[20])
    p.add_argument("--eta", type=float, nargs="+", default=[1.0])
    p.add_argument("--samples", type=int, nargs="+", default=[8])
    p.add_argument("--shrink", type=float, nargs="+", default=[0.0, 0.02])
    p.add_argument("--saturation", type=float, nargs="+", default=[1.0, 1.3, 1.6])
    p.add_argument("--cast", type=float, nargs="+", default=[1.0], help="share of the colour's global tint kept")
    p.add_argument("--out", default="", help="append one JSON line per photo and setting here")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def cached_sampler(model, steps: int, eta: float, samples: int):
    """A ``restore_colour`` sampler that draws ``samples`` rows on its first call and returns a prefix after."""
    from ddnm.restore_pass import restore_pass
    from ddnm.settings import RestoreSettings, SamplerSettings

    settings = RestoreSettings(sampler=SamplerSettings(steps=steps, eta=eta)).for_model(model)
    cache: dict[str, torch.Tensor] = {}

    def sample(y_work, op_work, seeds):
        if "rows" not in cache:  # one image per sweep (seed 0): K rows of the same y_work, seeds as restore_colour's
            from ddnm.operators import make
            from ddnm.posterior import sample_seed

            y_all = y_work[:1].repeat(samples, 1, 1, 1)
            cache["rows"] = restore_pass(y_all, make("colorize", op_work.x_shape), model, settings,
                                         [sample_seed(0, j) for j in range(samples)]).x  # fmt: skip
        return cache["rows"][: len(seeds)]

    return sample


def sweep_photo(model, x: torch.Tensor, args) -> list[dict]:
    from ddnm.colour import WorkingSize, restore_colour
    from ddnm.operators import make

    op = make("colorize", tuple(x.shape[1:]))
    y = quantised(op.A(x))
    gray, truth = score(op.A_pinv(y), x), score(x, x)["colourfulness"]
    rows = []
    for stretch, steps, eta in itertools.product(args.stretch, args.steps, args.eta):
        sample = cached_sampler(model, steps, eta, max(args.samples))
        for k, shrink, saturation, cast in itertools.product(args.samples, args.shrink, args.saturation, args.cast):
            working = WorkingSize(size=args.work_size, samples=k, shrink=shrink, saturation=saturation,
                                  stretch=bool(stretch), cast=cast)  # fmt: skip
            s = score(quantised(restore_colour(y, op, sample, [0], working).x), x)
            rows.append({"stretch": stretch, "steps": steps, "eta": eta, "samples": k, "shrink": shrink,
                         "saturation": saturation, "cast": cast, "psnr": s["psnr"], "gray_psnr": gray["psnr"],
                         "colourfulness": s["colourfulness"], "colourfulness_gt": truth, "delta_e": s["delta_e"],
                         "gray_delta_e": gray["delta_e"]})  # fmt: skip
    return rows


def summary(rows: list[dict]) -> list[dict]:
    keys = ("set", "stretch", "steps", "eta", "samples", "shrink", "saturation", "cast")
    groups = defaultdict(list)
    for row in rows:
        groups[tuple(row[k] for k in keys)].append(row)
    table = []
    for key, members in groups.items():
        def mean(name):
            return float(np.mean([m[name] for m in members]))

        table.append({**dict(zip(keys, key)), "photos": len(members),
                      "psnr_minus_gray": mean("psnr") - mean("gray_psnr"),
                      "colourfulness_ratio": mean("colourfulness") / mean("colourfulness_gt"),
                      "delta_e": mean("delta_e"), "gray_delta_e": mean("gray_delta_e")})  # fmt: skip
    return table


def main(argv=None) -> None:
    import ddnm.models

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    model = ddnm.models.load(args.model)
    rows = []
    for name in args.sets:
        for path in files_of(name, args.limit):
            x = load(path, args.long_side)
            if float((x - x.mean(dim=1, keepdim=True)).abs().max()) < 2 / 255:
                continue  # a gray photo: nothing to colour
            found = sweep_photo(model, x, args)
            photo = [{"set": name, "image": path.stem, "prior": model.info.name, **r} for r in found]
            rows += photo
            if args.out:
                with open(args.out, "a") as f:
                    f.writelines(json.dumps(r) + "\n" for r in photo)
            print(f"{name} {path.stem}: {len(photo)} settings", flush=True)
    print_table("colour sweep: means over photos", summary(rows))


if __name__ == "__main__":
    main()
