"""Restoration quality on clean images: degrade x → y = A x (+ n), restore, score against x. Pure tensors.

``evaluate(x, task, methods)`` runs each named method (DDNM with some prior, or a classical baseline) on
the same measurements and returns one row per (image, method) with PSNR, SSIM, the consistency residual
‖A x̂ − y‖ / ‖y‖ and seconds per image; ``summarize`` averages them per method. Reading the images and
writing tables or pictures is the caller's business (``pipeline/commands/eval.py``, ``benchmarks/quality.py``).

>>> import torch
>>> x = torch.zeros(2, 3, 16, 16)
>>> result = evaluate(x, task_for("sr_avgpool", scale=4), baseline_methods(task_for("sr_avgpool")))
>>> sorted({row["method"] for row in result.rows})
['A⁺y', 'bicubic']
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import torch

from .initial import bicubic_upsample, check_prior_supports, initial_image, known_pixels
from .metrics import colourfulness, consistency, psnr, ssim
from .operators import make
from .operators.base import LinearOperator
from .operators.registry import cli_operators, spec
from .restoration import restore

# A method maps (y, op, one seed per image) to x̂ (B, C, H, W); baselines ignore the seeds.
Method = Callable[[torch.Tensor, LinearOperator, list[int]], torch.Tensor]
# The operator parameters an EvalTask sets; the operators it can evaluate are the CLI's whose required parameters
# are all among them (cs is library-only, and kernels or motion lengths have no standard value here).
TASK_PARAMETERS = ("scale", "mask", "sigma", "threshold")
TASK_OPERATORS = tuple(name for name, s in cli_operators().items() if set(s.required) <= set(TASK_PARAMETERS))


@dataclass(frozen=True, slots=True)
class EvalTask:
    """One degradation to evaluate (the parameters that do not apply to ``op`` are ignored).

    scale:          SR factor (sr_avgpool, sr_bicubic).
    hole_fraction:  inpaint: share of the pixels inside one centred missing box (0.25 = a half-side box).
    blur_sigma:     deblur_gaussian: kernel σ in pixels (kernel size 2·ceil(3σ)+1).
    blur_threshold: deblur_gaussian: frequencies with |K̂| below it count as lost (DDRM's convention), so
                    A⁺y is a regularised inverse rather than an amplifier of rounding noise.
    sigma_y:        std of the Gaussian noise added to y, in [-1, 1] units; > 0 runs DDNM+.
    noise_seed:     seed of that noise, so every method sees the same y.
    """

    op: str
    scale: int = 4
    hole_fraction: float = 0.25
    blur_sigma: float = 2.0
    blur_threshold: float = 3e-2
    sigma_y: float = 0.0
    noise_seed: int = 1234

    def __post_init__(self) -> None:
        if self.op not in TASK_OPERATORS:
            raise ValueError(f"cannot evaluate operator {self.op!r}; valid: {', '.join(TASK_OPERATORS)}")
        if self.scale < 1 or not 0 < self.hole_fraction < 1 or self.blur_sigma <= 0 or self.sigma_y < 0:
            raise ValueError(
                f"need scale >= 1, 0 < hole_fraction < 1, blur_sigma > 0, sigma_y >= 0; got scale={self.scale}, "
                f"hole_fraction={self.hole_fraction}, blur_sigma={self.blur_sigma}, sigma_y={self.sigma_y}"
            )

    @property
    def label(self) -> str:
        """The registry's title with this task's values, e.g. "SR ×4 (bicubic)", "inpaint 25% box, σ_y=0.05"."""
        registered = spec(self.op)
        title = registered.title.format(scale=self.scale, sigma=self.blur_sigma)
        box = f" {self.hole_fraction:.0%} box" if registered.needs_mask else ""
        noise = f", σ_y={self.sigma_y:g}" if self.sigma_y else ""
        return title + box + noise

    def operator(self, x_shape: tuple[int, int, int]) -> LinearOperator:
        """The operator A for images of shape (C, H, W), given the task's values of the parameters it takes."""
        values = {"scale": self.scale, "sigma": self.blur_sigma, "threshold": self.blur_threshold}
        params = {name: values[name] for name in spec(self.op).parameters if name in values}
        if spec(self.op).needs_mask:
            params["mask"] = box_mask(x_shape[1], x_shape[2], self.hole_fraction)
        return make(self.op, x_shape, **params)


def task_for(op_name: str, **overrides) -> EvalTask:
    """The standard task for an operator: denoising adds σ_y = 0.1 noise, the others are noiseless."""
    task = EvalTask(op_name, sigma_y=0.1 if op_name == "denoise" else 0.0)
    return replace(task, **overrides)


def box_mask(height: int, width: int, fraction: float) -> torch.Tensor:
    """(H, W) mask, 1 = known, with a centred box of about ``fraction`` of the pixels missing."""
    side = math.sqrt(fraction)
    box_h, box_w = max(1, round(side * height)), max(1, round(side * width))
    top, left = (height - box_h) // 2, (width - box_w) // 2
    mask = torch.ones(height, width)
    mask[top : top + box_h, left : left + box_w] = 0
    return mask


def degrade(task: EvalTask, x: torch.Tensor) -> tuple[LinearOperator, torch.Tensor]:
    """(op, y) with y = A x + σ_y n, n ~ N(0, I) from ``task.noise_seed`` (the same for every method)."""
    op = task.operator(tuple(x.shape[1:])).to(x.device)
    y = op.A(x)
    if task.sigma_y:
        generator = torch.Generator(device=x.device).manual_seed(task.noise_seed)
        noise = torch.randn(y.shape, generator=generator, device=x.device, dtype=y.dtype)
        y = y + task.sigma_y * noise
    return op, y


def pinv_baseline(y: torch.Tensor, op: LinearOperator, seeds: list[int]) -> torch.Tensor:
    """A⁺y: the range-space part of DDNM's answer with an empty null space."""
    return op.A_pinv(y)


def bicubic_baseline(y: torch.Tensor, op: LinearOperator, seeds: list[int]) -> torch.Tensor:
    return bicubic_upsample(y, op.x_shape[-2:])


def harmonic_baseline(y: torch.Tensor, op: LinearOperator, seeds: list[int]) -> torch.Tensor:
    return initial_image("inpaint", y, op)


def biharmonic_baseline(y: torch.Tensor, op: LinearOperator, seeds: list[int]) -> torch.Tensor:
    """scikit-image's ``inpaint_biharmonic`` (Damelin & Hoang 2018), image by image, on the CPU."""
    from skimage.restoration import inpaint_biharmonic

    missing = ~known_pixels(op).expand(y.shape[0], *op.x_shape)[:, 0]
    filled = []
    for image, hole in zip(op.A_pinv(y), missing):
        array = image.detach().double().cpu().permute(1, 2, 0).numpy()
        result = inpaint_biharmonic(array, hole.cpu().numpy(), channel_axis=-1)
        filled.append(torch.from_numpy(result).permute(2, 0, 1))
    return torch.stack(filled).to(device=y.device, dtype=y.dtype).clamp(-1, 1)


def baseline_methods(task: EvalTask) -> dict[str, Method]:
    """Classical answers to compare DDNM with: A⁺y always, and the operator's warm-start image (registry
    ``warm_start``): bicubic for SR, harmonic (and scikit-image's biharmonic) fills for inpainting."""
    methods: dict[str, Method] = {"A⁺y": pinv_baseline}
    warm_start = spec(task.op).warm_start
    if warm_start == "bicubic":
        methods["bicubic"] = bicubic_baseline
    if warm_start == "harmonic":
        methods["harmonic"] = harmonic_baseline
        if importlib.util.find_spec("skimage") is not None:
            methods["biharmonic"] = biharmonic_baseline
    return methods


def ddnm_method(model, task: EvalTask, steps: int = 100, eta: float | None = None, samples: int = 1,
                start_t: int | None = None) -> Method:  # fmt: skip
    """DDNM (DDNM+ when ``task.sigma_y`` > 0) with ``model``; ``samples`` > 1 scores the posterior mean of that many
    samples. ``start_t`` None: where the prior's config recommends starting the task (a warm start for some), as
    ``ddnm.restore`` does; T − 1 (999): from noise. ``ddnm.restore`` also starts a denoiser prior (FFDNet's
    ``max_t``) at most there, from ``initial_image``. Refuses, here rather than mid-run, tasks the prior cannot do."""
    check_prior_supports(model, task.op)
    warm = {} if start_t is None else {"start_t": start_t}

    def run(y: torch.Tensor, op: LinearOperator, seeds: list[int]) -> torch.Tensor:
        x, _ = restore(y, op, model, steps=steps, eta=eta, sigma_y=task.sigma_y, seed=seeds, samples=samples, **warm)
        return x

    return run


@dataclass(frozen=True, slots=True)
class EvalResult:
    """rows: one dict per (image, method); y: the measurements; outputs: method name → x̂ (N, C, H, W)."""

    task: EvalTask
    op: LinearOperator
    y: torch.Tensor
    outputs: dict[str, torch.Tensor]
    rows: list[dict]


def score(task: EvalTask, op: LinearOperator, x_hat: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Per-image metric tensors (N,): PSNR, SSIM, consistency; colourfulness of x̂ and x where y has no colour."""
    x_hat = x_hat.to(x.dtype)
    metrics = {"psnr": psnr(x_hat, x), "ssim": ssim(x_hat, x), "consistency": consistency(op, x_hat, y)}
    if spec(task.op).removes_colour:
        metrics["colourfulness"] = colourfulness(x_hat)
        metrics["colourfulness_gt"] = colourfulness(x)
    return metrics


def evaluate(
    x: torch.Tensor,
    task: EvalTask,
    methods: dict[str, Method],
    names: list[str] | None = None,
    batch_size: int = 8,
    seed: int = 0,
) -> EvalResult:
    """Degrade the clean images x (N, C, H, W) in [-1, 1] once, then run and score every method on them.

    Image i is sampled with seed ``seed + i`` whatever the batch size; ``s_per_image`` is wall time.
    """
    names = names or [f"image{i}" for i in range(x.shape[0])]
    if len(names) != x.shape[0]:
        raise ValueError(f"got {len(names)} names for {x.shape[0]} images")
    op, y = degrade(task, x)
    outputs, rows = {}, []
    for method_name, method in methods.items():
        started = time.perf_counter()
        parts = []
        for first in range(0, x.shape[0], batch_size):
            last = min(first + batch_size, x.shape[0])
            parts.append(method(y[first:last], op, list(range(seed + first, seed + last))).to(x.dtype))
        seconds = (time.perf_counter() - started) / x.shape[0]
        outputs[method_name] = torch.cat(parts)
        metrics = score(task, op, outputs[method_name], x, y)
        for i, name in enumerate(names):
            row = {"image": name, "task": task.label, "op": task.op, "method": method_name}
            rows.append({**row, **{k: float(v[i]) for k, v in metrics.items()}, "s_per_image": seconds})
    return EvalResult(task, op, y, outputs, rows)


def summarize(rows: list[dict]) -> list[dict]:
    """One row per (task, method): means over images, and the worst (largest) consistency residual."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["task"], row["method"]), []).append(row)
    summary = []
    for (task_label, method_name), group in groups.items():
        mean = {k: sum(r[k] for r in group) / len(group) for k in group[0] if isinstance(group[0][k], float)}
        mean["consistency_max"] = max(r["consistency"] for r in group)
        summary.append({"task": task_label, "method": method_name, "images": len(group), **mean})
    return summary


def task_params(task: EvalTask) -> dict:
    """The task's settings as a JSON-ready dict (for result records)."""
    return asdict(task)
