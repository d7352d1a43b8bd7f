"""Training crops from the photo corpus: a cached, multi-scale random-crop sampler (the photos and their hold-out
split: ``jobs.photos``).

Each image is decoded once. What stays in memory is a pyramid of halvings (LANCZOS) with long side ≤ ``max_side``
kept whole, plus ``num_tiles`` full-resolution square tiles per image for crops too small to come from the pyramid.
A crop of side s (in original pixels) is cut from the coarsest level where it still spans ≥ ``window`` pixels and
resized to the window with LANCZOS, so every crop is a downscale (never an upscale) of real pixels.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from jobs.photos import name_hash


def to_unit_range(batch: torch.Tensor) -> torch.Tensor:
    """uint8 pixels [0, 255] → float [-1, 1], the networks' pixel range (on whatever device the batch is)."""
    return batch.float() / 127.5 - 1.0


@dataclass(frozen=True, slots=True)
class CropSettings:
    """How crops are drawn: a mix of three kinds, chosen per crop.

    - thumbnail (``thumbnail_fraction``): the whole photo resized so its short side is U(1, thumbnail_max)·window,
      then a random window×window crop: nearly the whole scene, the scale at which colour goes with content;
    - context (``context_fraction``): crop side U(context_min, 1)·min(H, W), large objects with their surroundings;
    - detail (the rest): side log-uniform on [window, min(H, W)·u], u ~ U(min_scale_fraction, 1): texture.
    Colours are never jittered: the prior must learn the corpus's colour statistics.
    """

    window: int = 64
    thumbnail_fraction: float = 0.5
    thumbnail_max: float = 1.25  # short side up to 80 px for a 64-px window
    context_fraction: float = 0.25
    context_min: float = 0.4
    max_side: int = 512  # pyramid levels are kept whole only at or below this long side...
    full_max_side: int = 1024  # ...except the first halving, kept whole up to this long side
    num_tiles: int = 16  # full-resolution tiles per image, for the finest crops
    min_scale_fraction: float = 0.5
    hflip: bool = True

    def __post_init__(self):
        if self.window < 8:
            raise ValueError(f"window {self.window} is too small; use ≥ 8 (e.g. 64)")
        if not 0 < self.min_scale_fraction <= 1:
            raise ValueError(f"min_scale_fraction {self.min_scale_fraction} must be in (0, 1]")
        mix = (self.thumbnail_fraction, self.context_fraction)
        if min(mix) < 0 or sum(mix) > 1:
            raise ValueError(f"thumbnail_fraction {self.thumbnail_fraction} + context_fraction "
                             f"{self.context_fraction} must be ≥ 0 each and ≤ 1 together")
        if self.thumbnail_max < 1 or not 0 < self.context_min <= 1:
            raise ValueError(f"thumbnail_max {self.thumbnail_max} must be ≥ 1 and context_min {self.context_min} "
                             "in (0, 1]")


class _CachedImage:
    """One decoded image: pyramid levels (scale, PIL image) and full-resolution tiles."""

    def __init__(self, path: Path, settings: CropSettings, rng: random.Random):
        with Image.open(path) as im:
            full = im.convert("RGB")
        self.name = path.name
        self.size = full.size
        self.levels: list[tuple[float, Image.Image]] = []  # scale = level px / original px, fine → coarse
        level, scale = full, 1.0
        while min(level.size) >= 2 * settings.window and max(level.size) > settings.max_side:
            scale /= 2
            level = full.resize((max(1, round(full.width * scale)), max(1, round(full.height * scale))), Image.LANCZOS)
            if max(level.size) <= settings.full_max_side:
                self.levels.append((scale, level))
        if max(full.size) <= settings.max_side or not self.levels:
            self.levels.insert(0, (1.0, full))
        self.tiles = self._cut_tiles(full, settings, rng) if self.levels[0][0] < 1 else []

    @staticmethod
    def _cut_tiles(full: Image.Image, settings: CropSettings, rng: random.Random) -> list[Image.Image]:
        side = min(4 * settings.window, *full.size)
        tiles = []
        for _ in range(settings.num_tiles):
            x, y = rng.randint(0, full.width - side), rng.randint(0, full.height - side)
            tiles.append(full.crop((x, y, x + side, y + side)))
        return tiles

    def crop(self, side: float, settings: CropSettings, rng: random.Random) -> Image.Image:
        """A square crop of ``side`` original pixels, resized to the window."""
        window = settings.window
        # Coarsest cached level on which the crop still spans ≥ window pixels: the resize is always a downscale.
        usable = [(scale, im) for scale, im in self.levels if side * scale >= window - 1e-6]
        if usable:
            scale, source = usable[-1]
        elif self.tiles:
            scale, source = 1.0, rng.choice(self.tiles)
        else:
            scale, source = self.levels[0]
        s = min(side * scale, *source.size)
        x, y = rng.uniform(0, source.width - s), rng.uniform(0, source.height - s)
        return source.resize((window, window), Image.LANCZOS, box=(x, y, x + s, y + s))


class CropSampler:
    """Random multi-scale crops from a list of images, as (B, 3, window, window) float tensors in [-1, 1].

    Each crop's photo is drawn uniformly, or in proportion to ``weights`` (one per path; ``photo_weights``): a photo
    of weight 6 gives 6 times the crops of a photo of weight 1, without decoding it 6 times.
    """

    def __init__(self, paths: list[Path], settings: CropSettings, seed: int = 0,
                 weights: list[float] | None = None):
        if not paths:
            raise ValueError("CropSampler got no images; check the corpus path and the hold-out split")
        if weights is not None and (len(weights) != len(paths) or min(weights) < 0 or sum(weights) <= 0):
            raise ValueError(f"{len(weights)} photo weights for {len(paths)} photos; need one ≥ 0 per photo, "
                             "not all 0")
        self.settings = settings
        self.rng = random.Random(seed)
        self.images = [_CachedImage(p, settings, self.rng) for p in paths]
        # cumulative weights for rng.choices; None keeps rng.choice, so unweighted runs draw the stream they always did
        self.cum_weights = list(itertools.accumulate(weights)) if weights is not None else None

    def _photo(self) -> _CachedImage:
        if self.cum_weights is None:
            return self.rng.choice(self.images)
        return self.rng.choices(self.images, cum_weights=self.cum_weights)[0]

    def cached_bytes(self) -> int:
        """Memory held by the cache (RGB uint8)."""
        total = 0
        for image in self.images:
            total += sum(3 * im.width * im.height for _, im in image.levels)
            total += sum(3 * t.width * t.height for t in image.tiles)
        return total

    def _side(self, image: _CachedImage) -> float:
        """Crop side in original pixels, by the crop kind drawn (see ``CropSettings``)."""
        s, window, short = self.settings, self.settings.window, min(image.size)
        kind = self.rng.random()
        if kind < s.thumbnail_fraction:
            # short side resized to window·U(1, thumbnail_max): the window spans short/U of the original
            return max(window, short / self.rng.uniform(1.0, s.thumbnail_max))
        if kind < s.thumbnail_fraction + s.context_fraction:
            return max(window, short * self.rng.uniform(s.context_min, 1.0))
        top = max(window, short * self.rng.uniform(s.min_scale_fraction, 1.0))
        # log-uniform: each octave of scale gets the same share of crops
        return math.exp(self.rng.uniform(math.log(window), math.log(top)))

    def sample(self, batch_size: int) -> torch.Tensor:
        return to_unit_range(self.sample_uint8(batch_size))

    def sample_uint8(self, batch_size: int) -> torch.Tensor:
        """(B, 3, window, window) uint8: what worker processes hand over (a quarter of the float bytes)."""
        crops = []
        for _ in range(batch_size):
            image = self._photo()
            crop = image.crop(self._side(image), self.settings, self.rng)
            if self.settings.hflip and self.rng.random() < 0.5:
                crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
            crops.append(np.asarray(crop, dtype=np.uint8))
        return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()

    def start_at(self, step: int) -> None:
        """Nothing to do: this sampler's stream continues from the checkpoint's state (``set_state``), not the step."""

    def state(self) -> object:
        return self.rng.getstate()

    def set_state(self, state: object) -> None:
        # A checkpoint of a run whose crops came from worker processes (ParallelCropSampler.state, a dict) holds no
        # stream to continue, e.g. a GPU run resumed on a CPU: keep this sampler's own seeded stream.
        if not isinstance(state, dict):
            self.rng.setstate(state)


class _CropStream(torch.utils.data.IterableDataset):
    """Endless uint8 batches; each DataLoader worker decodes the images itself and draws from its own seed."""

    def __init__(self, paths: list[Path], settings: CropSettings, seed: int, batch_size: int,
                 weights: list[float] | None = None):
        self.paths, self.settings, self.seed, self.batch_size, self.weights = paths, settings, seed, batch_size, weights

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else 0
        sampler = CropSampler(self.paths, self.settings, seed=name_hash(f"{self.seed}/{worker}"), weights=self.weights)
        while True:
            yield sampler.sample_uint8(self.batch_size)


class ParallelCropSampler:
    """``CropSampler``'s ``sample`` from ``workers`` processes, for a GPU that eats crops faster than one core cuts
    them (~1,300 64-px crops/s per core with LANCZOS). Every batch has ``batch_size`` crops.

    The crop stream is not replayed exactly on resume: ``start_at(step)`` seeds the workers from (seed, step), so a
    resumed run draws fresh crops rather than the ones the first run already saw; t and ε still follow the trainer's
    own generator. The workers start (and decode the corpus) at the first ``sample``.
    """

    def __init__(self, paths: list[Path], settings: CropSettings, seed: int, workers: int, batch_size: int,
                 pin_memory: bool = False, weights: list[float] | None = None):
        if workers < 1 or not paths:
            raise ValueError(f"ParallelCropSampler needs ≥ 1 worker and images; got {workers} and {len(paths)}")
        self.paths, self.settings, self.seed = paths, settings, seed
        self.workers, self.batch_size, self.pin_memory, self.weights = workers, batch_size, pin_memory, weights
        self.step = 0
        self._batches = None

    def start_at(self, step: int) -> None:
        self.step = step

    def sample(self, batch_size: int) -> torch.Tensor:
        return to_unit_range(self.sample_uint8(batch_size))

    def sample_uint8(self, batch_size: int) -> torch.Tensor:
        if batch_size != self.batch_size:
            raise ValueError(f"this sampler's workers cut batches of {self.batch_size}, not {batch_size}")
        if self._batches is None:
            stream = _CropStream(self.paths, self.settings, self.seed * 1_000_003 + self.step, self.batch_size,
                                 self.weights)
            loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=self.workers,
                                                 pin_memory=self.pin_memory, prefetch_factor=4)
            self._batches = iter(loader)
        return next(self._batches)

    def state(self) -> object:
        return {"parallel_from_step": self.step}

    def set_state(self, state: object) -> None:
        pass  # the stream is re-seeded from the resumed step (start_at), see the class doc
