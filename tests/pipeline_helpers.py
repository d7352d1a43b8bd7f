"""Small real files for the pipeline tests: archive images, masks, bad files and manifests."""

from __future__ import annotations

import csv
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

# The tiny test prior's window (tests/conftest.py: tiny_model_path); images above it need tiling.
WINDOW = 32


def png(array: np.ndarray) -> bytes:
    buffer = BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def pixels(path) -> np.ndarray:
    """A written PNG's RGB pixels as int16, so differences of two outputs do not wrap around."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def grey_photo(seed: int, size: int = WINDOW) -> bytes:
    """A smooth grey image (a blurred random field) in a PNG."""
    rng = np.random.default_rng(seed)
    field = rng.uniform(0, 255, (size // 4, size // 4))
    smooth = np.kron(field, np.ones((4, 4)))
    return png(smooth.astype(np.uint8))


def grey_plate_16(seed: int, size: int = WINDOW) -> bytes:
    """A smooth 16-bit grey TIFF (a glass plate's scan) whose levels 8 bits cannot hold."""
    rng = np.random.default_rng(seed)
    smooth = np.kron(rng.uniform(12000, 52000, (size // 4, size // 4)), np.ones((4, 4)))
    buffer = BytesIO()
    Image.fromarray(smooth.astype(np.uint16)).save(buffer, "TIFF")
    return buffer.getvalue()


def rgb_photo(seed: int, size: int) -> bytes:
    rng = np.random.default_rng(seed)
    return png(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def half_mask(size: int = WINDOW) -> bytes:
    """Left half known (white), right half missing (black)."""
    mask = np.zeros((size, size), dtype=np.uint8)
    mask[:, : size // 2] = 255
    return png(mask)


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


def write_manifest(path: Path, rows: list[dict]) -> str:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def good_files() -> dict[str, bytes]:
    return {
        "grey0.png": grey_photo(0),
        "grey1.png": grey_photo(1),
        "small.png": rgb_photo(2, WINDOW // 2),
        "holes.png": rgb_photo(3, WINDOW),
        "mask.png": half_mask(),
    }


def bad_files() -> dict[str, bytes]:
    whole = grey_photo(4)
    return {
        "empty.png": b"",
        "corrupt.png": b"not an image" * 20,
        "truncated.png": whole[: len(whole) // 2],
        "huge.png": grey_photo(5, size=4 * WINDOW),  # over --max-pixels in the tests
        "big.png": grey_photo(6, size=2 * WINDOW),  # under the bomb limit, over the window: tiled, not an error
        "small_mask.png": half_mask(WINDOW // 2),
    }


def good_rows() -> list[dict]:
    return [
        {"id": "grey0", "uri": "grey0.png", "op": "", "mask_uri": "", "params": "", "shelf": "A1"},
        {"id": "grey1", "uri": "grey1.png", "op": "", "mask_uri": "", "params": "", "shelf": "A2"},
        {"id": "small", "uri": "small.png", "op": "sr_avgpool", "mask_uri": "", "params": '{"scale": 2}'},
        {"id": "../holes", "uri": "holes.png", "op": "inpaint", "mask_uri": "mask.png", "params": ""},
    ]


def bad_rows() -> list[dict]:
    """One row per kind of failure, with the error type each must produce."""
    return [
        {"id": "empty", "uri": "empty.png", "expect": "EmptyFile"},
        {"id": "corrupt", "uri": "corrupt.png", "expect": "CorruptImage"},
        {"id": "truncated", "uri": "truncated.png", "expect": "TruncatedImage"},
        {"id": "huge", "uri": "huge.png", "expect": "DecompressionBomb"},
        {"id": "missing", "uri": "nowhere.png", "expect": "NotFound"},
        {"id": "mask-mismatch", "uri": "grey0.png", "op": "inpaint", "mask_uri": "small_mask.png",
         "expect": "MaskSizeMismatch"},
        {"id": "bad-scale", "uri": "small.png", "op": "sr_avgpool", "params": '{"scale": "two"}', "expect": "BadParams"},
    ]  # fmt: skip


# Between the 64x64 "big" image (4096 px) and the 128x128 "huge" one.
TEST_MAX_PIXELS = 5000


def mounted_tmpfs(target: Path, options: str):
    """Mount a real tmpfs at ``target`` for the duration of a fixture (root ignores chmod, not a read-only mount);
    skips the test where mounting is not allowed. Yields ``target``."""
    import subprocess

    import pytest

    target.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root in a mount namespace)")
    yield target
    subprocess.run(["umount", "-l", str(target)], check=True)
