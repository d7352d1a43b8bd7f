"""Centre crops of the shipped example scans, shared by the engine tests that need real pixels but no corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

EXAMPLES = Path(__file__).parents[1] / "examples" / "images"


def example_crops(count: int, size: int = 32) -> torch.Tensor:
    """``(count, 3, size, size)`` centre crops of the example scans (gray, as RGB) in [-1, 1]."""
    out = []
    for path in sorted(EXAMPLES.glob("*.png"))[:count]:
        image = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 127.5 - 1
        top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
        out.append(torch.from_numpy(image[top : top + size, left : left + size]).permute(2, 0, 1))
    return torch.stack(out)
