"""How the sample scans in examples/images were made from ../shared/corpus (kept for provenance).

Each photo is centre-cropped to a square, downscaled with LANCZOS and turned gray (ITU-R 601 luma),
standing in for a small gray archive scan. Run from the repository root:
    python examples/make_samples.py ../shared/corpus/images
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageOps

SAMPLES = {  # output name: (corpus file, size)
    "hopper": ("matplotlib-grace-hopper.jpg", 64),
    "china": ("sklearn-china.jpg", 64),
    "coffee": ("skimage-coffee.jpg", 64),
    "rocket": ("skimage-rocket.jpg", 64),
}


def main(corpus: Path, out: Path = Path(__file__).parent / "images") -> None:
    out.mkdir(exist_ok=True)
    for name, (source, size) in SAMPLES.items():
        with Image.open(corpus / source) as im:
            square = ImageOps.fit(im.convert("RGB"), (size, size), Image.Resampling.LANCZOS)
            square.convert("L").save(out / f"{name}_gray.png", optimize=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
