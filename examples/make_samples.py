"""How the sample scans in examples/ were made from ../shared/corpus (kept for provenance).

``examples/scans/``: each photo downscaled with LANCZOS to a long side of 512 px (aspect kept) and turned gray
(ITU-R 601 luma), standing in for an archive's gray scans in the README's first command (``manifest.csv``): big
enough that the coloured result is worth keeping. ``examples/images/``: the same photos centre-cropped to 64×64,
for the commands and tests that want a scan a CPU restores at full size in seconds. Run from the repository root:
    python examples/make_samples.py ../shared/corpus/images
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageOps

SCAN_SIDE = 512  # examples/scans: long side
SAMPLES = {  # output name: (corpus file, size of the examples/images square)
    "hopper": ("matplotlib-grace-hopper.jpg", 64),
    "china": ("sklearn-china.jpg", 64),
    "coffee": ("skimage-coffee.jpg", 64),
    "rocket": ("skimage-rocket.jpg", 64),
}


def main(corpus: Path, out: Path = Path(__file__).parent) -> None:
    (out / "images").mkdir(exist_ok=True)
    (out / "scans").mkdir(exist_ok=True)
    for name, (source, size) in SAMPLES.items():
        with Image.open(corpus / source) as im:
            rgb = im.convert("RGB")
        square = ImageOps.fit(rgb, (size, size), Image.Resampling.LANCZOS)
        square.convert("L").save(out / "images" / f"{name}_gray.png", optimize=True)
        scan = rgb.copy()
        scan.thumbnail((SCAN_SIDE, SCAN_SIDE), Image.Resampling.LANCZOS)
        scan.convert("L").save(out / "scans" / f"{name}.png", optimize=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
