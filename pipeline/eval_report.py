"""Files around ``ddnm.evaluate``: clean crops in from a folder, Markdown tables, picture grids and JSON lines out."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .encode import to_uint8

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
# Columns of the Markdown table: (summary key, header, format).
TABLE_COLUMNS = (
    ("psnr", "PSNR (dB)", "{:.2f}"),
    ("ssim", "SSIM", "{:.3f}"),
    ("consistency_max", "‖Ax̂−y‖/‖y‖ (max)", "{:.1e}"),
    ("colourfulness", "colourfulness (GT {gt:.1f})", "{:.1f}"),
    ("s_per_image", "s / image", "{:.3g}"),
)


def image_files(folder: str | Path, limit: int | None = None) -> list[Path]:
    """The folder's images in name order (the first ``limit`` of them)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {str(root)!r} does not exist; give a folder of clean images")
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {str(root)!r}")
    return files[:limit] if limit else files


def centre_crop(path: Path, crop: int) -> torch.Tensor:
    """The central crop×crop RGB window of an image, (3, crop, crop) float32 in [-1, 1]."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    if min(rgb.size) < crop:
        raise ValueError(
            f"{path.name} is {rgb.width}×{rgb.height}, smaller than the {crop}-pixel crop; use a smaller --crop"
        )
    left, top = (rgb.width - crop) // 2, (rgb.height - crop) // 2
    array = np.asarray(rgb.crop((left, top, left + crop, top + crop)), dtype=np.float32)
    return torch.from_numpy(array / 127.5 - 1).permute(2, 0, 1).contiguous()


def load_crops(folder: str | Path, crop: int, limit: int | None = None) -> tuple[list[str], torch.Tensor]:
    """``(names, x)``: centre crops of the folder's images, x of shape (N, 3, crop, crop) in [-1, 1]."""
    files = image_files(folder, limit)
    return [p.stem for p in files], torch.stack([centre_crop(p, crop) for p in files])


def machine() -> dict:
    """Where a measurement was taken (the same keys as ``benchmarks/common.py``)."""
    info = {
        "host_cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def append_jsonl(path: str | Path, records: list[dict]) -> None:
    """Append one JSON object per line (the results file is shared by many benchmarks, so never rewrite it)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with Path(path).open("a") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def table_cells(summary: list[dict], first_column: str = "method") -> tuple[list[str], list[list[str]]]:
    """Headers and formatted cells of ``ddnm.evaluate.summarize`` rows; columns no row has are left out."""
    columns = [c for c in TABLE_COLUMNS if any(c[0] in row for row in summary)]
    gt = next((row["colourfulness_gt"] for row in summary if "colourfulness_gt" in row), 0.0)
    headers = [first_column] + [header.format(gt=gt) for _, header, _ in columns]
    rows = [[str(row[first_column])] + [fmt.format(row[key]) if key in row else "–" for key, _, fmt in columns]
            for row in summary]  # fmt: skip
    return headers, rows


def markdown_table(summary: list[dict], first_column: str = "method") -> str:
    """A Markdown table of ``ddnm.evaluate.summarize`` rows."""
    headers, rows = table_cells(summary, first_column)
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines) + "\n"


def measurement_picture(op_name: str, op, y: torch.Tensor) -> torch.Tensor:
    """How the degraded input looks, at the restored size: a smaller y (SR) centred on white, missing pixels
    black, a grey y as grey RGB; (N, 3, H, W) in [-1, 1]."""
    height, width = op.x_shape[-2:]
    if getattr(op, "mask", None) is not None:  # inpainting: y is x-sized with the holes at 0
        shown = torch.where(op.mask > 0.5, y, torch.full_like(y, -1.0))
    elif tuple(y.shape[-2:]) != (height, width):
        top, left = (height - y.shape[-2]) // 2, (width - y.shape[-1]) // 2
        shown = torch.ones(y.shape[0], y.shape[1], height, width, dtype=y.dtype, device=y.device)
        shown[..., top : top + y.shape[-2], left : left + y.shape[-1]] = y
    else:
        shown = y
    return shown.expand(-1, 3, -1, -1) if shown.shape[1] == 1 else shown


def picture_grid(columns: list[tuple[str, torch.Tensor]], path: str | Path, rows: int = 4, zoom: int = 2) -> None:
    """A PNG with one column per (label, images (N, 3, H, W) in [-1, 1]) and one row per image (first ``rows``)."""
    count = min(rows, columns[0][1].shape[0])
    height, width = (s * zoom for s in columns[0][1].shape[-2:])
    header, gap = 16, 2
    sheet = Image.new("RGB", (len(columns) * (width + gap) + gap, header + count * (height + gap) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    for j, (label, images) in enumerate(columns):
        left = gap + j * (width + gap)
        # The default bitmap font has no superscripts: write A⁺y as A+y.
        text = label.replace("⁺", "+").replace("×", "x")[: max(4, width // 6)]
        draw.text((left + 2, 2), text, fill="black")
        for i in range(count):
            tile = Image.fromarray(to_uint8(images[i].detach().float().cpu().numpy()))
            sheet.paste(tile.resize((width, height), Image.NEAREST), (left, header + gap + i * (height + gap)))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)
