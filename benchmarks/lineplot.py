"""Small line charts for the benchmark docs: matplotlib when installed, else drawn with PIL (no new dependency)."""

from __future__ import annotations

from pathlib import Path

COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]

# panels: {panel title: {series name: [(x, y), ...]}}
Panels = dict[str, dict[str, list[tuple[float, float]]]]


def line_plot(panels: Panels, path: Path, xlabel: str, ylabel: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _pil_plot(panels, path, xlabel, ylabel)
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (title, series) in zip(axes[0], panels.items()):
        for i, (name, points) in enumerate(series.items()):
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="o", color=COLOURS[i % len(COLOURS)], label=name)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _pil_plot(panels: Panels, path: Path, xlabel: str, ylabel: str) -> None:
    from PIL import Image, ImageDraw

    width, height, margin = 480, 360, 50
    image = Image.new("RGB", (width * len(panels), height), "white")
    draw = ImageDraw.Draw(image)
    for p, (title, series) in enumerate(panels.items()):
        left = p * width
        points = [pt for pts in series.values() for pt in pts]
        x_lo, x_hi = min(x for x, _ in points), max(x for x, _ in points)
        y_lo, y_hi = min(y for _, y in points), max(y for _, y in points)
        x_hi, y_hi = max(x_hi, x_lo + 1e-9), max(y_hi, y_lo + 1e-9)

        def to_px(x: float, y: float, lf=left, xl=x_lo, xh=x_hi, yl=y_lo, yh=y_hi) -> tuple[float, float]:
            px = lf + margin + (x - xl) / (xh - xl) * (width - 2 * margin)
            py = height - margin - (y - yl) / (yh - yl) * (height - 2 * margin - 40)
            return px, py

        draw.rectangle([left + margin, 40, left + width - margin, height - margin], outline="black")
        draw.text((left + margin, 10), title.replace("×", "x"), fill="black")  # PIL's default font lacks ×
        draw.text((left + width // 2 - 30, height - 20), xlabel, fill="black")
        draw.text((left + margin, 24), f"({ylabel})", fill="black")
        xs = sorted({x for x, _ in points})
        if len(xs) > 8:  # dense series (a loss curve): five evenly spaced ticks instead of one per point
            xs = [x_lo + k * (x_hi - x_lo) / 4 for k in range(5)]
        for x in xs:
            px, _ = to_px(x, y_lo)
            draw.text((px - 10, height - margin + 5), f"{x:.4g}", fill="black")
        for frac in (0.0, 0.5, 1.0):
            y = y_lo + frac * (y_hi - y_lo)
            _, py = to_px(x_lo, y)
            draw.text((left + 5, py - 6), f"{y:.2f}", fill="black")
        for i, (name, pts) in enumerate(series.items()):
            colour = COLOURS[i % len(COLOURS)]
            xy = [to_px(x, y) for x, y in sorted(pts)]
            if len(xy) > 1:
                draw.line(xy, fill=colour, width=2)
            for px, py in xy:
                draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colour)
            draw.text((left + width - margin - 6 * len(name) - 4, 45 + 14 * i), name, fill=colour)
    image.save(path)
