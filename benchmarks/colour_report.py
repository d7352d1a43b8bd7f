"""Tables and pictures of ``benchmarks.colour``: per-set means, the Markdown section, thumbnail grids."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks.quality import replace_section  # noqa: F401 (re-exported for benchmarks.colour)

THUMB = 128


def summary(rows: list[dict]) -> list[dict]:
    """Mean per (set, method), plus an "all" row per method; colourfulness also as a fraction of the truth's."""
    groups = defaultdict(list)
    for row in rows:
        groups[(row["set"], row["method"])].append(row)
        groups[("all", row["method"])].append(row)
    table = []
    for (name, method), members in groups.items():
        def mean(key):
            values = [r[key] for r in members if key in r and not math.isnan(r[key])]
            return float(np.mean(values)) if values else float("nan")

        out = {"set": name, "method": method, "photos": len(members), "psnr": mean("psnr"),
               "colourfulness": mean("colourfulness"), "colourfulness_gt": mean("colourfulness_gt"),
               "delta_e": mean("delta_e")}  # fmt: skip
        out["colourfulness_ratio"] = out["colourfulness"] / out["colourfulness_gt"]
        if method == "colour":
            out.update(s_per_mp=mean("s_per_mp"), uncertainty=mean("uncertainty"),
                       gray_err_255_max=max(r["gray_err_255"] for r in members))
        table.append(out)
    return table


def markdown(table: list[dict], config: dict, extra: dict, command: str) -> str:
    """The ``colour`` section of docs/model_card.md: settings, the table, the cost ratio, the command."""
    shape = "stretched to the window" if config.get("stretch") else "aspect kept"
    lines = [f"`{command}`", "",
             f"Prior `{config['prior']}` ({config['prior_sha256']}), {config['machine']}; working size "
             f"{config['work_size']} px, K = {config['samples']} samples, {config['steps']} steps, η = "
             f"{config['eta'] if config['eta'] is not None else 'the prior’s'}, spread shrink λ = {config['shrink']}, "
             f"saturation {config.get('saturation', 1.0)}, global tint kept {config.get('cast', 1.0)}, {shape}, "
             f"guided filter r = {config['radius']}, ε = {config['eps']}; photos at long side "
             f"{config['long_side'] or 'full size'}.", "",
             "| set | method | photos | PSNR dB | colourfulness (× truth) | ΔE2000 | s / MP | max gray error (/255) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in table:
        colour = f"{r['colourfulness']:.1f} ({r['colourfulness_ratio']:.2f}×)"
        timing = f"{r['s_per_mp']:.1f}" if "s_per_mp" in r else "–"
        gray = f"{r['gray_err_255_max']:.2f}" if "gray_err_255_max" in r else "–"
        lines.append(f"| {r['set']} | {r['method']} | {r['photos']} | {r['psnr']:.2f} | {colour} | "
                     f"{r['delta_e']:.2f} | {timing} | {gray} |")  # fmt: skip
    if "ratio" in extra:
        ratio = extra["ratio"]
        lines += ["", f"Cost of one 1600×1200 scan: {ratio['s_1600']:.1f} s, one 64×64 scan {ratio['s_64']:.1f} s: "
                      f"ratio {ratio['ratio']:.2f}× (same settings, same run)."]  # fmt: skip
    return "\n".join(lines) + "\n"


def _thumb(x: torch.Tensor, side: int = THUMB) -> Image.Image:
    """A (1, 3, H, W) image in [-1, 1] as a PIL thumbnail with long side ``side``, centred on a white square."""
    array = ((x[0].permute(1, 2, 0).float().clamp(-1, 1).numpy() + 1) * 127.5).round().astype(np.uint8)
    image = Image.fromarray(array)
    image.thumbnail((side, side), Image.LANCZOS)
    square = Image.new("RGB", (side, side), "white")
    square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return square


def _sheet(rows: list[list[Image.Image]], path: Path, side: int) -> None:
    gap = 2
    columns = max(len(r) for r in rows)
    sheet = Image.new("RGB", (columns * (side + gap) + gap, len(rows) * (side + gap) + gap), "white")
    for i, row in enumerate(rows):
        for j, tile in enumerate(row):
            sheet.paste(tile, (gap + j * (side + gap), gap + i * (side + gap)))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=85, optimize=True)


def grid(shots: list[tuple[torch.Tensor, ...]], path: Path, side: int = THUMB) -> None:
    """One row per photo, a thumbnail per image of the shot (gray A⁺y | [tint table |] colour | truth)."""
    _sheet([[_thumb(t, side) for t in shot] for shot in shots], path, side)


def historical_grid(files: list[Path], method, path: Path, side: int = 192) -> list[torch.Tensor]:
    """Colour each old photo at full size (the user's case; no truth) and lay out scan | colour pairs, 3 per row."""
    from ddnm.operators import make

    tiles, outputs = [], []
    for file in files:
        gray = np.asarray(Image.open(file).convert("L"), dtype=np.float32) / 127.5 - 1
        y = torch.from_numpy(gray)[None, None]
        out = method(y, make("colorize", (3, *gray.shape)), 0).x
        outputs.append(out)
        tiles += [_thumb(y.expand(-1, 3, -1, -1), side), _thumb(out, side)]
        print(f"historical {file.stem}: {gray.shape[1]}×{gray.shape[0]}", flush=True)
    _sheet([tiles[i : i + 6] for i in range(0, len(tiles), 6)], path, side)
    return outputs
