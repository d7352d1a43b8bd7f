"""Two priors compared on whole-photo colorization at the prior's window: the held-out corpus photos resized to long
side 64 (sides rounded to multiples of 8), the posterior mean of K samples, PSNR and colourfulness (Hasler &
Süsstrunk) against the truth and the gray A⁺y. A quick check of a retrained prior, not the colour benchmark
(benchmarks/colour.py, issue 21).

    python -m benchmarks.prior_thumb_colour OLD.safetensors NEW.safetensors --samples 8 --steps 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image

import ddnm
from ddnm.metrics import colourfulness, psnr
from ddnm.operators import make
from jobs.photos import holdout_names, list_images
from jobs.train_settings import default_corpus


def thumbnail(path, side: int = 64) -> torch.Tensor:
    with Image.open(path) as im:
        im = im.convert("RGB")
        scale = side / max(im.size)
        size = tuple(max(8, round(v * scale / 8) * 8) for v in im.size)  # the UNet halves 3 times
        pixels = np.array(im.resize(size, Image.LANCZOS))
    return torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 127.5 - 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("weights", nargs=2, help="two priors (paths or names for ddnm.models.load)")
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--corpus", default=str(default_corpus()))
    args = p.parse_args()
    torch.set_num_threads(1)
    models = {w: ddnm.models.load(w) for w in args.weights}
    held = set(holdout_names())
    rows: dict[str, list] = {"gray A⁺y": [], **{w: [] for w in models}}
    start = time.time()
    for path in (p for p in list_images(args.corpus) if p.name in held):
        x = thumbnail(path)
        op = make("colorize", tuple(x.shape[1:]))
        y = op.A(x)
        truth = colourfulness(x).item()
        gray = op.A_pinv(y)
        rows["gray A⁺y"].append((psnr(gray, x).item(), 0.0, truth))
        for w, model in models.items():
            out, _ = ddnm.restore(y, op, model, steps=args.steps, eta=1.0, seed=0, samples=args.samples)
            rows[w].append((psnr(out, x).item(), colourfulness(out).item(), truth))
    print(f"| prior | PSNR (dB) | colourfulness / truth's |  ({len(rows['gray A⁺y'])} photos, K = {args.samples}, "
          f"{args.steps} steps, {time.time() - start:.0f} s)")
    for name, r in rows.items():
        a = np.array(r)
        print(f"| {name} | {a[:, 0].mean():.2f} | {a[:, 1].mean() / a[:, 2].mean():.2f} |")


if __name__ == "__main__":
    main()
