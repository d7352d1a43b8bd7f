"""Fit the ε channel-mean head (``ddnm.models.adm``'s ``dc_head``) of a trained prior by least squares.

The head adds one number per channel to every pixel of ε̂, so the training loss (DDPM Eq. 14, the mean over pixels)
splits into a part the head cannot touch (ε̂ − ε with each channel's spatial mean removed) and H·W times the
squared error of the channel means:

    ‖ε̂ − ε‖² = ‖(ε̂ − ε) − DC‖² + H·W Σ_c (out_DC,c + g_c(f)·m_c + o_c(f) − ε_DC,c)²

with m = mean_hw(x_t), f = silu([mean_hw(h), emb]) the head's input, g_c(f) = W_g,c·f + b_g,c its gain and
o_c(f) = W_o,c·f + b_o,c its offset. The second term is linear least squares in (W, b), one problem per channel
with features [f·m_c, m_c, f, 1]: its minimiser over a sample of training crops, uniform t and fresh ε is what SGD
on the same loss converges to, reached in one pass. SGD gets there slowly: the DC is 1/(H·W) of each step's
gradient signal (a 64-px head trained alone reached a DC regression of 0.54 of the ideal ~1 in 3.3k steps).

    python -m jobs.fit_dc_head --state-dir /work/runs --name ddnm-prior-64-dc2 --samples 16384 --num-threads 2 \
        --init-weights <the headless ddnm-prior-64.safetensors, e.g. from git show 90f2ab4:ddnm/weights/...>

The export is written like the training job's (``STATE_DIR/NAME/export/NAME.safetensors`` + ``.json``) with
``train_only: dc_head`` and the fit's record (``dc_head_fit``) in its config; the trunk keeps the init weights.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from jobs.objective import noised
from jobs.train_prior import Trainer
from jobs.train_settings import TrainSettings


def _head_inputs(trainer: Trainer, x0: torch.Tensor, generator: torch.Generator):
    """(f, m, target) for a batch: the head's input, mean_hw(x_t), and ε_DC − out_DC (what the head must add)."""
    net, acp = trainer.net, trainer.alphas_cumprod
    t = torch.randint(0, acp.shape[0], (x0.shape[0],), generator=generator)  # as diffusion_loss draws them
    eps = torch.randn(x0.shape, generator=generator)
    x_t = noised(x0, t, eps, acp)
    seen = {}
    hook = net.dc_head.register_forward_hook(lambda module, args, out: seen.update(f=args[0].float()))
    try:
        out = net(x_t, t).float()  # the head is zero here, so this is the trunk's ε̂
    finally:
        hook.remove()
    return seen["f"], x_t.mean(dim=(2, 3)), (eps - out).mean(dim=(2, 3))


@torch.no_grad()
def fit_dc_head(settings: TrainSettings, samples: int = 12288, batch: int = 64, ridge: float = 1e-4,
                on_batch=None) -> dict:  # fmt: skip
    """Fit the head of ``settings.init_weights`` (which must have none yet, or a zero one) on ``samples`` training
    crops; write the export; return the fit's record (method, samples, ridge, seed, crop mix)."""
    if not settings.dc_head:
        raise ValueError("fit_dc_head needs settings with dc_head=True (the head to fit)")
    settings = dataclasses.replace(settings, train_only="dc_head")
    trainer = Trainer(settings)
    if trainer.resume():
        raise ValueError(f"{settings.checkpoint_dir} already holds a checkpoint; fit into a new --name")
    net = trainer.net.eval()
    nn_head = net.dc_head
    if float(nn_head.weight.abs().max()) or float(nn_head.bias.abs().max()):
        raise ValueError("the init weights already have a trained dc_head")
    channels, width = nn_head.out_features // 2, nn_head.in_features
    size = 2 * width + 2  # features [f·m_c, m_c, f, 1]
    gram = torch.zeros(channels, size, size, dtype=torch.float64)  # Σ φφᵀ per channel
    moment = torch.zeros(channels, size, dtype=torch.float64)  # Σ φ·target per channel
    count, generator = 0, torch.Generator().manual_seed(settings.seed)
    while count < samples:
        x0 = trainer.sampler.sample(min(batch, samples - count))
        f, m, target = _head_inputs(trainer, x0, generator)
        f, m, target = f.double(), m.double()[:, :, None], target.double()
        fc = f[:, None, :].expand(-1, channels, -1)
        phi = torch.cat([fc * m, m, fc, torch.ones_like(m)], dim=2)  # (B, C, size)
        gram += torch.einsum("bcd,bce->cde", phi, phi)
        moment += torch.einsum("bcd,bc->cd", phi, target)
        count += len(f)
        if on_batch:
            on_batch(count, samples)
    for c in range(channels):
        # ridge relative to each feature's own energy: the gain features f·m_c are ~√(1−ᾱ)/64 the size of f, and a
        # ridge scaled by the mean diagonal shrank them (DC regression 0.71 instead of ~1 on the 64-px prior)
        w = torch.linalg.solve(gram[c] + ridge * torch.diag(torch.diagonal(gram[c])), moment[c])
        nn_head.weight[c] = w[:width].float()  # gain rows come first (ddnm.models.adm: chunk(2) → gain, offset)
        nn_head.bias[c] = w[width].float()
        nn_head.weight[channels + c] = w[width + 1 : 2 * width + 1].float()
        nn_head.bias[channels + c] = w[2 * width + 1].float()
    trainer.ema.load_state_dict(net.state_dict())
    trainer.fitted = {"method": "least squares on the ε channel means (jobs/fit_dc_head.py)", "samples": count,
                      "ridge": ridge, "ridge_of": "each feature's own energy (the Gram matrix's diagonal)",
                      "seed": settings.seed,
                      "crops": f"{settings.thumbnail_fraction:.0%} thumbnails, {settings.context_fraction:.0%} "
                               "large-context, the rest detail"}
    trainer.save()
    return trainer.fitted


def main(
    state_dir: Path = TrainSettings().state_dir, name: str = "ddnm-prior-64-dc", init_weights: Path | None = None,
    samples: int = 12288, batch: int = 64, ridge: float = 1e-4, num_threads: int = 0, seed: int = 0,
) -> None:
    """Fit the ε channel-mean head of ``--init-weights``, an export without one (the bundled prior has had its head
    since session 11), and export it."""
    from rich.console import Console

    base = TrainSettings(state_dir=state_dir, name=name, dc_head=True, seed=seed, num_threads=num_threads or None)
    settings = dataclasses.replace(base, init_weights=init_weights or base.init_weights)
    if settings.num_threads:
        torch.set_num_threads(settings.num_threads)
    console = Console()
    try:
        record = fit_dc_head(settings, samples, batch, ridge,
                             on_batch=lambda done, total: console.print(f"{done}/{total} crops", highlight=False))
    except (ValueError, FileNotFoundError) as error:  # one line, no traceback
        console.print(f"error: {error}", highlight=False)
        raise SystemExit(2) from None
    console.print(f"export: {settings.export_path} ({record})", highlight=False)


if __name__ == "__main__":
    import typer

    typer.run(main)
