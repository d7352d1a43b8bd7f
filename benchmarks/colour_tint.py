"""Where a colorization's global tint comes from: the photo, or the seed? A diagnostic for the colour prior.

    python -m benchmarks.colour_tint                        # hold-out + Kodak24, the user's defaults, ~5 min on 2 cores
    python -m benchmarks.colour_tint --sets kodak24 --start-t 500

For every photo, the colour prior (the bundled prior's companion, ``ddnm.restoring_prior``) draws its K posterior
samples at the working size exactly as ``ddnm.restore`` does (same seeds, ``ddnm.posterior.sample_seed``). Each
sample's global tint is its chroma's spatial mean, two numbers (red–green, yellow–blue). Over photos × seeds the
tint's variance splits into a part that follows the photo (the mean over seeds, per photo) and a part that follows
the seed (the mean over photos, per seed). A prior that infers colour from the gray content puts the variance in
the photo; one that commits to a tint from its starting noise puts it in the seed, and then the posterior mean's
tint is the prior's average cast, the same for every photo. Also reported: how well the per-photo mean tint tracks
the truth's (correlation), and PSNR of the colour with the global tint taken out entirely (``cast`` 0: only the
colour's variation within the photo) against the default ``cast`` and the gray scan. Appends to
benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from benchmarks.colour import files_of, load, quantised
from benchmarks.common import append_result, print_table
from ddnm.colour.lift import chroma

# opponent axes of the chroma plane (channel means removed): red–green, yellow–blue; orthonormal
AXES = torch.tensor([[1.0, -1.0, 0.0], [0.5, 0.5, -1.0]])
AXES = AXES / AXES.norm(dim=1, keepdim=True)


def tint(x: torch.Tensor) -> torch.Tensor:
    """(B, 2) global tint of images (B, 3, H, W): the spatial mean of the chroma on the two opponent axes."""
    return chroma(x).mean(dim=(2, 3)) @ AXES.T


def variance_split(tints: torch.Tensor) -> tuple[float, float]:
    """(photo share, seed share) of the variance of tints (photos, seeds, 2): the main effects' shares."""
    total = tints.var(dim=(0, 1), unbiased=False).sum()
    photo = tints.mean(dim=1).var(dim=0, unbiased=False).sum()
    seed = tints.mean(dim=0).var(dim=0, unbiased=False).sum()
    return float(photo / total), float(seed / total)


def main(argv=None) -> None:
    import ddnm.models
    from benchmarks.colour import colour_method, parse_args
    from ddnm.colour import restore_colour
    from ddnm.metrics import psnr
    from ddnm.operators import make
    from ddnm.restore_pass import restore_pass

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["holdout", "kodak24"])
    parser.add_argument("--long-side", type=int, default=384)
    parser.add_argument("--start-t", type=int, default=None, help="warm start the colour prior's sampler here")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    _, colouring, restore, working = colour_method(ddnm.models.load(), parse_args([]))
    if args.start_t is not None:
        restore = replace(restore, sampler=replace(restore.sampler, start_t=args.start_t))
    rows = []
    for name in args.sets:
        tints, truths, scores = [], [], {"gray": [], "default cast": [], "cast 0": []}
        for path in files_of(name, 0):
            x = load(path, args.long_side)
            op = make("colorize", tuple(x.shape[1:]))
            y = quantised(op.A(x))
            drawn = {}

            def sample(y_work, op_work, seeds, drawn=drawn):
                drawn["rows"] = restore_pass(y_work, op_work, colouring, restore, seeds).x
                return drawn["rows"]

            out = restore_colour(y, op, sample, [0], working)
            no_cast = restore_colour(y, op, lambda *_: drawn["rows"], [0], replace(working, cast=0.0))
            tints.append(tint(drawn["rows"].float()))
            truths.append(tint(x)[0])
            for key, image in (("gray", op.A_pinv(y)), ("default cast", out.x), ("cast 0", no_cast.x)):
                scores[key].append(float(psnr(quantised(image), x)[0]))
            print(f"{name} {path.stem}", flush=True)
        tints_t, truths_t = torch.stack(tints), torch.stack(truths)
        photo, seed = variance_split(tints_t)
        mean_tint = tints_t.mean(dim=1)
        corr = [float(torch.corrcoef(torch.stack([mean_tint[:, k], truths_t[:, k]]))[0, 1]) for k in range(2)]
        row = {"set": name, "photos": len(tints), "samples": tints_t.shape[1], "photo_share": photo,
               "seed_share": seed, "corr_red_green": corr[0], "corr_yellow_blue": corr[1],
               **{f"psnr_{k.replace(' ', '_')}": sum(v) / len(v) for k, v in scores.items()},
               "cast": working.cast, "start_t": args.start_t, "prior": colouring.info.name}  # fmt: skip
        rows.append(row)
        append_result("colour_tint", row)
    print_table("global tint of the colour prior's samples: photo or seed?", rows)


if __name__ == "__main__":
    main()
