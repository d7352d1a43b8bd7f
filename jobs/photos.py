"""The training corpus's photos: which files, the fixed hold-out split no prior trains on, and sampling weights.

Depends only on file names and two small text files (``jobs/holdout.txt``, a ``--photo-weights`` file), so every
run and session splits the corpus the same way.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
# The corpus photos held out from every training run (see the file's header for how they were chosen).
HOLDOUT_FILE = Path(__file__).with_name("holdout.txt")


def list_images(root: str | Path) -> list[Path]:
    """Image files directly under ``root`` (or ``root/images``), sorted by name."""
    root = Path(root)
    folder = root / "images" if (root / "images").is_dir() else root
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}; point corpus at a photo folder")
    return paths


def name_hash(name: str) -> int:
    """Stable 64-bit hash of a file name (sha256), independent of Python's hash seed."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")


def holdout_names(path: Path = HOLDOUT_FILE) -> tuple[str, ...]:
    """File names of the corpus photos no prior is trained on (one per line; ``#`` starts a comment).

    Benchmarks that report on "photos the prior never saw" read this list (or call ``split_holdout``).
    """
    lines = (line.split("#", 1)[0].strip() for line in Path(path).read_text().splitlines())
    return tuple(line for line in lines if line)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def photo_weights(paths: list[Path], weights_file: str | Path) -> list[float]:
    """One sampling weight per path (``CropSampler``'s ``weights``) from a text file of ``name weight`` lines
    (``#`` starts a comment); photos it does not name weigh 1. A name that is in no corpus folder is refused (a typo
    would silently train on the wrong mix); a held-out name is allowed, as the file lists photos, not the split.
    """
    table: dict[str, float] = {}
    for number, raw in enumerate(Path(weights_file).read_text().splitlines(), 1):
        fields = raw.split("#", 1)[0].split()
        if not fields:
            continue
        weight = _number(fields[1]) if len(fields) == 2 else math.nan
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"{weights_file}:{number}: expected 'photo-name weight' with a finite weight ≥ 0, "
                             f"got {raw!r}")
        table[fields[0]] = weight
    folders = {p.parent for p in paths}
    missing = sorted(n for n in table if not any((folder / n).exists() for folder in folders))
    if missing:
        raise ValueError(f"{weights_file} names photos that are not in the corpus: {', '.join(missing[:5])}")
    return [table.get(p.name, 1.0) for p in paths]


def split_holdout(paths: list[Path], fraction: float = 0.1,
                  fixed: tuple[str, ...] | None = None) -> tuple[list[Path], list[Path]]:
    """(train, holdout). The held-out files are those named in ``fixed`` (default: ``holdout_names()``) when any
    of them is among ``paths`` (the project corpus); otherwise (another photo folder) the round(fraction·n) files
    (at least 1) with the lowest name hash.

    Depends only on the file names, so every run and session holds out the same images.
    """
    if not 0 < fraction < 1 or len(paths) < 2:
        raise ValueError(f"hold-out fraction {fraction} with {len(paths)} images; need 0 < fraction < 1 and ≥ 2 images")
    names = set(holdout_names() if fixed is None else fixed)
    listed = sorted(p for p in paths if p.name in names)
    if listed:
        return [p for p in paths if p.name not in names], listed
    count = max(1, round(fraction * len(paths)))
    ranked = sorted(paths, key=lambda p: (name_hash(p.name), p.name))
    held = set(ranked[:count])
    return [p for p in paths if p not in held], sorted(held)


def training_photos(corpus: str | Path, holdout_fraction: float = 0.1,
                    weights_file: str | Path | None = None) -> tuple[list[Path], list[Path], list[float] | None]:
    """(train, holdout, weights): the corpus split as every run splits it (``split_holdout``) and each training
    photo's sampling weight (``photo_weights``; None: uniform). What a training run reads before its first step, so
    the command line calls it too and turns a bad corpus or weights file (ValueError, OSError) into one line."""
    train, holdout = split_holdout(list_images(corpus), holdout_fraction)
    return train, holdout, photo_weights(train, weights_file) if weights_file else None
