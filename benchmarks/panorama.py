"""Tiled restoration of a panorama strip: wall time vs the same windows restored independently, and seams.

    python -m benchmarks.panorama                                  # 64×512 strip, colorize and SR×4, all strategies
    python -m benchmarks.panorama --height 128 --width 1024 --steps 50 --device cuda
    python -m benchmarks.panorama --prior analytic --images 4 --sweep    # seams vs overlap and schedule

The strip is a horizontal band of a corpus photo (/work/shared/corpus, read here, never committed), resized.
Prior: the bundled ddnm/weights/ddnm-prior-64.safetensors when it exists, else the analytic SharedOffsetModel
(one colour cast per image, so windows that do not share information disagree and seams show); "random-net" is
a random-weight conv net with a network's cost per window, for timings only. "independent"
restores the same windows as the plan, each on its own, in one batched pass: the baseline the ratio refers to.
Prints a table, appends to benchmarks/results.jsonl and writes docs/img/panorama_grid.png (grid drawn).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from benchmarks.common import Stopwatch, append_result, print_table
from ddnm.metrics import psnr
from ddnm.tiling.operators import OperatorFactory
from ddnm.tiling.restore import measurement_scale, restore_tiled
from ddnm.settings import SamplerSettings
from ddnm.tiling import TileSettings, plan_tiles

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "ddnm" / "weights" / "ddnm-prior-64.safetensors"
CORPUS = Path("/work/shared/corpus/images")
PICTURE = ROOT / "docs" / "img" / "panorama_grid.png"
TASKS = {"colorize": {}, "sr_avgpool": {"scale": 4}}
STRATEGIES = ("independent", "joint", "mask_shift")


def load_strip(name: str, height: int, width: int) -> torch.Tensor:
    """A centred horizontal band of the photo with the strip's aspect ratio, resized: (1, 3, H, W) in [-1, 1]."""
    image = Image.open(CORPUS / name).convert("RGB")
    band = round(image.width * height / width)
    top = (image.height - band) // 2
    image = image.crop((0, top, image.width, top + band)).resize((width, height), Image.LANCZOS)
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float() / 127.5 - 1


def random_net(window: int) -> torch.nn.Module:
    """A plain conv ε-net with random weights: no prior worth the name, only a realistic cost per window."""
    layers = [torch.nn.Conv2d(3, 64, 3, padding=1)]
    for _ in range(4):
        layers += [torch.nn.SiLU(), torch.nn.Conv2d(64, 64, 3, padding=1)]
    layers += [torch.nn.SiLU(), torch.nn.Conv2d(64, 3, 3, padding=1)]
    body = torch.nn.Sequential(*layers)

    class Net(torch.nn.Module):
        def forward(self, x, t):
            return 0.01 * body(x)

    net = Net()
    net.body = body
    return net


def load_prior(choice: str, device: torch.device):
    if choice == "bundled" or (choice == "auto" and BUNDLED.exists()):
        from ddnm.models import load

        return load(device=device), "bundled ddnm-prior-64"
    if choice == "random-net":
        from ddnm.models.wrapper import ModelInfo, NetworkEpsModel
        from ddnm.schedules import alphas_cumprod_from_betas, linear_betas

        info = ModelInfo("random-conv", "conv", 64)
        model = NetworkEpsModel(random_net(64), alphas_cumprod_from_betas(linear_betas(1000)), info)
        return model.to(device).eval(), "random 6-layer conv net (timing only)"
    from ddnm.models.testing_spatial import SharedOffsetModel

    why = " (no bundled weights)" if choice == "auto" else ""
    return SharedOffsetModel(std=0.05).to(device), "analytic SharedOffsetModel" + why


def to_picture(x: torch.Tensor) -> Image.Image:
    return Image.fromarray(((x[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy())


def save_grid_picture(references: list[tuple[str, torch.Tensor]], restored: list[tuple[str, torch.Tensor]], plan):
    """Strips stacked top to bottom; on the first restored one the windows are outlined (alternating colours)."""
    rows = [(label, x, False) for label, x in references]
    rows += [(label, x, i == 0) for i, (label, x) in enumerate(restored)]
    width, height = rows[0][1].shape[-1], rows[0][1].shape[-2]
    sheet = Image.new("RGB", (width, (height + 12) * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, x, with_grid) in enumerate(rows):
        top = i * (height + 12) + 12
        sheet.paste(to_picture(x), (0, top))
        draw.text((2, top - 12), label, fill="black")
        for w in plan.windows if with_grid else ():
            box = w.box
            draw.rectangle((box.left, top + box.top, box.left + box.width - 1, top + box.top + box.height - 1),
                           outline=("red", "yellow")[w.index % 2])
    PICTURE.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(PICTURE, optimize=True)


def run_task(name, x, model, window, args, device):
    factory = OperatorFactory(name, tuple(x.shape[1:]), TASKS[name])
    full_op = factory.full()
    y = full_op.A(x)
    sampler = SamplerSettings(steps=args.steps, eta=0.85)
    restore_tiled(y, factory, model, TileSettings(window, args.overlap), SamplerSettings(steps=2))  # warm-up
    runs = [(s, args.max_batch) for s in STRATEGIES] + ([("mask_shift", 1)] if x.shape[0] > 1 else [])
    rows, results = [], {}
    for strategy, max_batch in runs:
        tiles = TileSettings(window, args.overlap, strategy, max_batch)
        times = []
        for _ in range(args.repeat):  # the best of a few runs: the CPU is shared
            watch = Stopwatch(device)
            with watch:
                result = restore_tiled(y, factory, model, tiles, sampler, seed=0)
            times.append(watch.total)
        results.setdefault(strategy, result)
        rows.append({"op": name, "strategy": strategy, "max_batch": max_batch, "s": min(times),
                     "psnr": psnr(result.x, x).mean().item(), "seam_ratio": result.seam_ratio.mean().item(),
                     "residual": result.residual.max().item()})
    base = rows[0]["s"]
    for row in rows:
        row["time_vs_independent"] = row["s"] / base
    plan = plan_tiles(*x.shape[-2:], TileSettings(window, args.overlap), align=measurement_scale(full_op))
    return rows, results, plan, full_op.A_pinv(y)


def seam_sweep(x, model, window: int) -> list[dict]:
    """Seam ratio of colorize over overlap × sampler schedule, per strategy (mean over the images)."""
    factory = OperatorFactory("colorize", tuple(x.shape[1:]))
    y = factory.full().A(x)
    schedules = {"20 steps": SamplerSettings(steps=20), "100 steps": SamplerSettings(steps=100),
                 "50 steps, travel 5×3": SamplerSettings(steps=50, travel_length=5, travel_repeat=3)}
    rows = []
    for label, sampler in schedules.items():
        for overlap in (8, 16, 32):
            row = {"op": "colorize", "schedule": label, "overlap": overlap}
            for strategy in STRATEGIES:
                result = restore_tiled(y, factory, model, TileSettings(window, overlap, strategy), sampler, seed=0)
                row[strategy] = result.seam_ratio.mean().item()
            rows.append(row)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", default="lomiri-aitzgorri.jpg")
    p.add_argument("--height", type=int, default=64)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--overlap", type=int, default=16)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--max-batch", type=int, default=16)
    p.add_argument("--images", type=int, default=1, help="copies of the strip restored together (other seeds)")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--sweep", action="store_true", help="seam ratio over overlap and schedule instead (colorize)")
    p.add_argument("--prior", default="auto", choices=["auto", "bundled", "analytic", "random-net"])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    device = torch.device(args.device)
    model, prior = load_prior(args.prior, device)
    window = model.info.image_size or 64
    print(f"prior: {prior}; window {window}, overlap {args.overlap}, {args.steps} steps, device {device}")
    x = load_strip(args.image, args.height, args.width).expand(args.images, -1, -1, -1)
    if args.sweep:
        rows = seam_sweep(x, model, window)
        for row in rows:
            append_result("panorama_seams", {"prior": prior, "image": args.image, "images": args.images, **row})
        print_table(f"Seam ratio, colorize {args.height}×{args.width}, {prior}", rows)
        return
    table = []
    for name in TASKS:
        rows, results, plan, x_pinv = run_task(name, x, model, window, args, device)
        common = {"prior": prior, "image": args.image, "size": f"{args.height}x{args.width}", "window": window,
                  "overlap": args.overlap, "steps": args.steps, "windows": len(plan.windows), "images": args.images,
                  "device": str(device), "weights_sha256": model.info.weights_sha256}
        for row in rows:
            append_result("panorama", {**common, **row})
        table += rows
        if name == "colorize":
            order = ("joint", "mask_shift", "independent")
            restored = [(f"{s} - seam ratio {results[s].seam_ratio[0].item():.2f}", results[s].x[:1]) for s in order]
            save_grid_picture([("input - gray", x_pinv[:1]), ("original", x[:1])], restored, plan)
    print_table(f"Panorama {args.height}×{args.width}, {prior}", table)
    print(f"picture: {PICTURE.relative_to(ROOT)} ({PICTURE.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
