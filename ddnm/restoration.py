"""The public one-call API, and the only façade: restore the user's own measurement y with DDNM / DDNM+.

Everything that decides *how* an image is restored lives behind :func:`restore`: the prior's recommendations
(``RestoreSettings.for_model``), latent vs pixel priors, a denoiser's warm start, windows for images that are not
the model's size (``ddnm.restore_pass``), colour at a working size (``ddnm.colour``), K posterior samples and their
packing (``ddnm.posterior``, ``ddnm.packing``). ``ddnm-batch restore`` and the batch pipeline call it as it is,
so the library and the command line give the same bytes for the same image, model and seed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from .ddim import generators_for  # noqa: F401 - long imported from here
from .guidance_params import guidance_params_for  # noqa: F401 - long imported from here
from .metrics import consistency
from .operators.base import LinearOperator
from .operators.registry import name_of
from .overrides import with_overrides
from .packing import repeat_batch, repeat_rows, row_parts, samples_per_call
from .posterior import posterior_mean, uncertainty
from .restore_pass import restore_pass, warm_start_image
from .settings import DEFAULT_ETA, ETA_KEY, RestoreSettings  # noqa: F401 - DEFAULT_ETA, ETA_KEY: long here
from .settings import colour_recommendations


@dataclass(frozen=True, eq=False)
class Restoration:
    """What :func:`restore` returns; unpacks as ``x, residual = ddnm.restore(...)``.

    x:           (B, C, H, W) in [-1, 1].
    residual:    (B,) ‖A x − y‖ / ‖y‖ of x itself, the consistency certificate.
    seam_ratio:  (B,) images restored in windows only (``ddnm.tiling.blend.seam_ratio``; the samples' mean for K > 1).
    tiles:       windows per image (1 when the image is the model's window).
    uncertainty: (B,) K > 1 only: the mean per-pixel spread of the samples, in [0, 1] intensity units.
    samples:     K, the posterior samples averaged.
    work_size:   long side of the working image when colour went through ``ddnm.colour``, else None.
    settings:    the settings in force, every recommendation resolved.
    prior:       the ``ModelInfo`` of the prior that sampled: the main prior's colour companion for colour at the
                 working size (``restoring_prior``), else the main prior. Provenance records it.
    sigma_y:     (B,) ``estimate_sigma_y`` only: the noise level each image was restored for (DDNM+; 0: plain DDNM).
    """

    x: torch.Tensor
    residual: torch.Tensor
    seam_ratio: torch.Tensor | None = None
    tiles: int = 1
    uncertainty: torch.Tensor | None = None
    samples: int = 1
    work_size: int | None = None
    settings: RestoreSettings | None = None
    prior: object | None = None  # ddnm.models.ModelInfo
    sigma_y: torch.Tensor | None = None

    def __iter__(self):  # ``x, residual = ddnm.restore(...)``, as when it returned a pair
        yield self.x
        yield self.residual

    def __getitem__(self, index: int) -> torch.Tensor:
        return (self.x, self.residual)[index]

    def __len__(self) -> int:
        return 2


def effective_eta(model, eta: float | None, convention: str = "paper") -> float:
    """``eta`` if given, else the prior's recommended η for the convention, else ``DEFAULT_ETA[convention]``."""
    from .settings import SamplerSettings

    return SamplerSettings(eta=eta, convention=convention).for_model(model).eta


def restore(
    y: torch.Tensor,
    op: LinearOperator,
    model=None,
    settings: RestoreSettings | None = None,
    *,
    seed: int | list[int] = 0,
    x_init: torch.Tensor | None = None,
    callback=None,
    on_windows=None,
    **overrides,
) -> Restoration:
    """Restore x from y = A x (+ n). y is ``(B, *op.y_shape())`` in [-1, 1]; returns a :class:`Restoration`.

    ``settings`` (default ``RestoreSettings()``: every choice the model's recommendation) with ``overrides``, flat
    names of ``SamplerSettings`` / ``RestoreSettings`` fields or of the guidance rule's parameters, set on it:
    ``steps=20, sigma_y=0.05, guidance="ddpg", gamma=6, samples=4, work_size=0``. ``model`` None loads
    ``settings.model`` (the bundled prior by default) on y's device. ``seed`` is one int for the batch (image i
    gets seed + i) or one int per image. ``x_init`` is a warm start's initial image (``start_t``); a prior that
    cannot start from noise (FFDNet) gets ``ddnm.initial.initial_image`` without it. ``callback`` hears of every
    denoising step (``sample_ddnm``'s dict), ``on_windows(done, total)`` of every chunk of windows of a large image.

    >>> import torch, ddnm
    >>> from ddnm.models.testing import ZeroEpsModel
    >>> op = ddnm.operators.make("sr_avgpool", (3, 8, 8), scale=2)
    >>> x, res = ddnm.restore(op.A(torch.full((1, 3, 8, 8), 0.5)), op, ZeroEpsModel(), steps=3)
    >>> x.shape, bool(res[0] < 1e-4)
    (torch.Size([1, 3, 8, 8]), True)
    """
    settings = with_overrides(settings or RestoreSettings(), overrides)
    if model is None:
        model = settings.model.load(device=y.device)
    expected = (y.shape[0], *op.y_shape())
    if tuple(y.shape) != expected:
        raise ValueError(f"y has shape {tuple(y.shape)} but the operator measures {expected}")
    seeds = [seed + i for i in range(y.shape[0])] if isinstance(seed, int) else [int(s) for s in seed]
    if len(seeds) != y.shape[0]:
        raise ValueError(f"got {len(seeds)} seeds for {y.shape[0]} images")
    check_prior_supports(model, op)
    op = op.to(y.device)
    model = restoring_prior(model, op, settings)
    resolved = settings.for_model(model, op)
    if resolved.work_size:
        return _restore_colour(y, op, model, resolved, seeds, callback, on_windows)
    if resolved.estimate_sigma_y:
        out = _restore_at_own_noise(y, op, model, resolved, seeds, x_init, callback, on_windows)
    else:
        out = _restore_samples(y, op, model, resolved, seeds, x_init, callback, on_windows)
    return _with_colour_strength(out, op, y)


def _with_colour_strength(out: Restoration, op: LinearOperator, y: torch.Tensor) -> Restoration:
    """Colour restored at full size with its chroma times ``colour_strength`` (``ddnm.colour.with_strength``; the
    working-size path scales its colour before the lift instead). The residual is measured again, on what is kept."""
    from .colour import is_colour_task, with_strength

    strength = out.settings.colour_strength
    if strength == 1.0 or not is_colour_task(op):
        return out
    x = with_strength(out.x, strength)
    return replace(out, x=x, residual=consistency(op, x, y.float()))


def _restore_at_own_noise(y, op, model, settings: RestoreSettings, seeds, x_init, callback, on_windows):
    """DDNM+ for each image at the σ_y estimated from its own y (``ddnm.noise.estimate_sigma_y``), one image at a
    time (the sampler takes one σ_y a call). Colour at the working size never comes here: the downscaled working
    image's noise is averaged away, so the full-size estimate would not describe it."""
    from .noise import estimate_sigma_y

    sigma = estimate_sigma_y(y)
    parts = []
    for i in range(y.shape[0]):
        rows = slice(i, i + 1)
        own = replace(settings, estimate_sigma_y=False, sampler=replace(settings.sampler, sigma_y=float(sigma[i])))
        parts.append(_restore_samples(y[rows], op.rows(rows), model, own, seeds[rows], _part(x_init, rows), callback,
                                      on_windows))  # fmt: skip
    return replace(_joined(parts), sigma_y=sigma.cpu(), settings=settings)


def restoring_prior(model, op: LinearOperator, settings: RestoreSettings | None = None):
    """The prior that samples ``op`` for ``model``: its colour companion (``ddnm.models.load_colour_companion``,
    the prior its config's ``colour.prior`` names) for colour at a working size, else ``model`` itself.

    Colour is decided at the scale of whole objects, so the bundled 64-px prior hands colorize and the old photo to
    ``ddnm-colour-32``, trained on whole-photo thumbnails (docs/model_card.md, "Colour prior"). ``work_size=0``
    (restore at full size in windows) keeps the main prior.
    """
    from .colour import is_colour_task

    return sampling_prior(model, is_colour_task(op), None if settings is None else settings.work_size)


def sampling_prior(model, colour_task: bool, work_size: int | None):
    """:func:`restoring_prior`'s rule where only the task's kind is known (pre-flight checks a manifest's operator
    names before any operator exists): the colour companion for a colour task unless ``work_size`` is 0 or the
    model is latent, else ``model``."""
    from .models.companion import load_colour_companion

    if work_size == 0 or getattr(model, "is_latent", False) or not colour_task:
        return model
    return load_colour_companion(model)


def check_prior_supports(model, op: LinearOperator) -> None:
    """Refuse, before sampling, colour from a prior that cannot invent it (``info.generative`` False)."""
    from .initial import check_prior_supports as check

    if (name := name_of(op)) is not None:
        check(model, name)


def _restore_samples(y, op, model, settings: RestoreSettings, seeds, x_init, callback, on_windows) -> Restoration:
    """K posterior samples (``settings.samples``), ``settings.max_batch`` images per network call, averaged.

    A batch larger than ``max_batch`` runs in parts (``ddnm.packing.row_parts``), each with its rows' operator
    (``op.rows``: a mask per image follows its image); a row's seeds are its own, so parts change no row.
    """
    if x_init is None and settings.sampler.start_t is not None:
        # once per image, not per sample: the harmonic fill of a 6-MP scan takes ~20 s on two CPU cores
        x_init = warm_start_image(y, op)
    parts = row_parts(y.shape[0], settings.max_batch)
    if len(parts) > 1:
        return _joined([_restore_samples(y[p], op.rows(p), model, settings, seeds[p], _part(x_init, p), callback,
                                         on_windows) for p in parts])  # fmt: skip
    batch, samples = y.shape[0], settings.samples
    per_call = samples_per_call(batch, samples, settings.max_batch)
    packed_ops, seams, tiles = {1: op}, [], 1

    def one_call(sample_seeds: list[int]) -> torch.Tensor:
        nonlocal tiles
        copies = len(sample_seeds) // batch
        if copies not in packed_ops:
            packed_ops[copies] = repeat_batch(op, batch, copies)
        y_c = repeat_rows(y, copies) if copies > 1 else y
        out = restore_pass(y_c, packed_ops[copies], model, settings, sample_seeds, repeat_rows(x_init, copies),
                           callback, on_windows)  # fmt: skip
        tiles = out.tiles
        if out.seam_ratio is not None:
            seams.extend(out.seam_ratio.view(copies, batch))
        return out.x

    x, std = posterior_mean(one_call, seeds, samples, per_call)
    seam_ratio = torch.stack(seams).mean(0) if seams else None
    return Restoration(x, consistency(op, x, y.float()), seam_ratio, tiles, uncertainty(std), samples, None, settings,
                       model.info)  # fmt: skip


def _part(t: torch.Tensor | None, rows: slice) -> torch.Tensor | None:
    return None if t is None else t[rows]


def _joined(parts: list[Restoration]) -> Restoration:
    """The restorations of consecutive parts of a batch as one (per-image fields concatenated in order)."""

    def cat(name: str) -> torch.Tensor | None:
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else torch.cat(values)

    return replace(parts[0], **{name: cat(name) for name in ("x", "residual", "seam_ratio", "uncertainty")})


def _restore_colour(y, op, model, settings: RestoreSettings, seeds, callback, on_windows) -> Restoration:
    """Colour estimated at the working size from K samples in one batch (parts of ``max_batch`` rows when set),
    carried up exactly (``ddnm.colour``)."""
    from .colour import restore_colour, working_size_for

    working = working_size_for(colour_recommendations(model), settings.work_size, settings.samples)
    # colour_strength scales the colour the prior's calibration chose (its "saturation"), before the lift's gamut fit
    working = replace(working, saturation=working.saturation * settings.colour_strength)
    tiles = 1

    def sample(y_work: torch.Tensor, op_work, sample_seeds: list[int]) -> torch.Tensor:
        nonlocal tiles
        parts = row_parts(y_work.shape[0], settings.max_batch)  # B·K rows, at most max_batch per network call
        xs = []
        for p in parts:
            rows_op = op_work if len(parts) == 1 else op_work.rows(p)  # a working-size mask per row follows it
            out = restore_pass(y_work[p], rows_op, model, settings, sample_seeds[p], None, callback, on_windows)
            tiles = out.tiles
            xs.append(out.x)
        return torch.cat(xs) if len(xs) > 1 else xs[0]

    out = restore_colour(y, op, sample, seeds, working)
    return Restoration(out.x, consistency(op, out.x, y.float()), None, tiles, out.uncertainty, working.samples,
                       settings.work_size, settings, model.info)  # fmt: skip
