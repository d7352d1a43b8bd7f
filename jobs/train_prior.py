"""Train the bundled ε-prediction prior (ADM UNet) on corpus crops. DDPM arXiv:2006.11239 Algorithm 1.

``main(settings)`` runs the loop: uniform t, linear β schedule (T = 1000), ε-MSE (DDPM Eq. 14), AdamW, EMA weights.
It resumes from ``settings.checkpoint_dir`` when a checkpoint is there (else starts from ``settings.init_weights``,
an fp16 export such as the bundled prior, or from scratch), saves one every ``checkpoint_every_s`` seconds and on exit
or SIGTERM, and each time also exports the EMA weights (fp16) to ``settings.export_path``. All of these live outside
the checkout by default (``TrainSettings.state_dir``).
Progress leaves only through ``on_log`` (the CLI draws it) and the CSV log.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from ddnm.models.adm import create_model
from ddnm.schedules import alphas_cumprod_from_betas, linear_betas
from jobs.checkpoint import export_weights, find_checkpoint, load_checkpoint, save_checkpoint
from jobs.data import CropSampler, CropSettings, ParallelCropSampler, to_unit_range
from jobs.photos import training_photos
from jobs.objective import diffusion_loss, ema_decay_at, ema_update, fixed_t_loss
from jobs.train_settings import DEFAULT_LICENSE, REPO, StepLog, TrainSettings

__all__ = ["DEFAULT_LICENSE", "REPO", "StepLog", "TrainSettings", "diffusion_loss", "main"]

def lr_at(step: int, settings: TrainSettings, start_step: int = 0) -> float:
    # Warm up from the step this run started at: a fine-tune starts with fresh AdamW moments too.
    return settings.lr * min(1.0, (step - start_step + 1) / max(1, settings.warmup_steps))


def crop_settings(settings: TrainSettings) -> CropSettings:
    return CropSettings(window=settings.window, thumbnail_fraction=settings.thumbnail_fraction,
                        context_fraction=settings.context_fraction)


class ValidationSet:
    """Fixed crops from the held-out images with fixed t and ε, so validation losses are comparable over time."""

    def __init__(self, paths: list[Path], settings: TrainSettings, alphas_cumprod: torch.Tensor):
        sampler = CropSampler(paths, crop_settings(settings), seed=settings.seed + 1)
        generator = torch.Generator().manual_seed(settings.seed + 1)
        n = settings.validation_crops
        self.x0 = sampler.sample(n).to(settings.device)
        # stratified t over [0, T): every validation pass sees the whole range of noise levels
        self.t = (torch.arange(n) * alphas_cumprod.shape[0] // n).to(settings.device)
        self.eps = torch.randn(self.x0.shape, generator=generator).to(settings.device)
        self.batch_size = settings.batch_size

    @torch.no_grad()
    def loss(self, net: nn.Module, alphas_cumprod: torch.Tensor) -> float:
        total = 0.0
        for i in range(0, self.x0.shape[0], self.batch_size):
            sl = slice(i, i + self.batch_size)
            total += fixed_t_loss(net, self.x0[sl], self.t[sl], self.eps[sl], alphas_cumprod).item() * len(self.t[sl])
        return total / self.x0.shape[0]


class _StopFlag:
    """Set by SIGTERM/SIGINT so the loop can checkpoint before it exits."""

    def __init__(self):
        self.stop = False
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.stop = True

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _append_csv(path: Path, record: StepLog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow([f.name for f in dataclasses.fields(StepLog)])
        writer.writerow([getattr(record, f.name) for f in dataclasses.fields(StepLog)])


class Trainer:
    """Holds the run's state (network, EMA, optimizer, RNGs); ``main`` drives it."""

    def __init__(self, settings: TrainSettings):
        self.settings = settings
        torch.manual_seed(settings.seed)
        self.net = create_model(**settings.hparams).to(settings.device)
        self.ema = copy.deepcopy(self.net).requires_grad_(False)
        # what the training step calls: the network itself, or compiled (same parameters; saved as self.net)
        self.forward = torch.compile(self.net) if settings.compile else self.net
        self.device_type = torch.device(settings.device).type
        cuda = self.device_type == "cuda"
        # autocast the step to bfloat16 where asked and native: CUDA, or a CPU whose oneDNN has bf16 kernels (AVX-512
        # BF16 or AMX): there a batch-32 step of the bundled prior takes 0.55× the fp32 time (session 13, one core of
        # an AMD EPYC). Elsewhere bf16 is emulated and slower than fp32, so the step stays fp32. Validation is always
        # fp32, so the logged val loss stays comparable.
        self.bf16 = settings.bf16 and (cuda or (self.device_type == "cpu"
                                                and torch.ops.mkldnn._is_mkldnn_bf16_supported()))
        if cuda:
            torch.backends.cudnn.benchmark = True  # fixed crop shapes: let cuDNN pick its fastest convolutions once
        self.optimizer = torch.optim.AdamW(self._trainable(), lr=settings.lr, weight_decay=settings.weight_decay,
                                           fused=cuda or None)
        betas = linear_betas(settings.num_timesteps)
        self.alphas_cumprod = alphas_cumprod_from_betas(betas).to(settings.device)
        train, self.holdout, weights = training_photos(settings.corpus, settings.holdout_fraction,
                                                       settings.photo_weights)
        self.train_names = [p.name for p in train]
        self.weighted = {p.name: w for p, w in zip(train, weights or []) if w != 1}
        self.sampler = (ParallelCropSampler(train, crop_settings(settings), settings.seed, settings.workers,
                                            settings.batch_size, pin_memory=cuda, weights=weights) if settings.workers
                        else CropSampler(train, crop_settings(settings), seed=settings.seed, weights=weights))
        self.validation = ValidationSet(self.holdout, settings, self.alphas_cumprod)
        self.generator = torch.Generator(device=settings.device).manual_seed(settings.seed)
        self.step = 0
        self.start_step = 0  # where this run's warm-up began (the init weights' trained_steps when fine-tuning)
        self.init = None  # what the weights started from: None (random) or {"name", "sha256", "trained_steps"}
        self.carried = {}  # the init config's per-task "sampling.tasks" and "colour" blocks, if any
        self.fitted = None  # jobs.fit_dc_head's record when the head was fitted by least squares, not trained

    def _trainable(self) -> list[nn.Parameter]:
        """All parameters, or with ``train_only`` those under that prefix; the others stop taking gradients, so the
        backward pass ends at the trained part (a head-only step costs about one forward pass)."""
        prefix = self.settings.train_only
        if prefix is None:
            return list(self.net.parameters())
        chosen = [p for name, p in self.net.named_parameters() if name.startswith(prefix)]
        if not chosen:
            raise ValueError(f"train_only {prefix!r} names no parameter of this model (dc_head needs --dc-head)")
        for name, p in self.net.named_parameters():
            p.requires_grad_(name.startswith(prefix))
        return chosen

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def resume(self) -> bool:
        """Load the checkpoint if there is one (True); else start from ``init_weights`` if given (False)."""
        folder = find_checkpoint(self.settings.checkpoint_dir)
        if folder is None:
            if self.settings.init_weights is not None:
                self.init_from(Path(self.settings.init_weights))
            self.sampler.start_at(self.step)  # worker processes draw fresh crops from here
            return False
        state = load_checkpoint(folder, self.net, self.ema, self.optimizer)
        if state["hparams"] != self.settings.hparams:
            raise ValueError(f"checkpoint in {folder} has hparams {state['hparams']}, settings ask for "
                             f"{self.settings.hparams}; use another checkpoint_dir or the same model settings")
        self.step = state["step"]
        self.start_step = state.get("start_step", 0)
        self.init = state.get("init")
        self.carried = state.get("carried") or {}
        self.sampler.set_state(state["sampler_rng"])
        self._set_generator_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.sampler.start_at(self.step)
        return True

    def _set_generator_state(self, saved: torch.Tensor) -> None:
        """Continue the (t, ε) stream of the checkpoint, or, when it was drawn on another kind of device (a CUDA
        generator's state is 16 bytes, a CPU one's 5056: a GPU run continued on a CPU or back), start one seeded
        from the step, so the continued run is still a function of (seed, step)."""
        if saved.numel() == self.generator.get_state().numel():
            self.generator.set_state(saved)
        else:
            self.generator.manual_seed(self.settings.seed + self.step)

    def init_from(self, weights: Path) -> None:
        """Network and EMA from an fp16 export (e.g. the bundled prior); fresh AdamW; steps continue from its count."""
        meta_path = weights.with_suffix(".json")
        if not weights.is_file() or not meta_path.is_file():
            raise FileNotFoundError(f"init weights {weights} (and its .json) not found; pass init_weights=None to "
                                    "train from scratch")
        meta = json.loads(meta_path.read_text())
        # Weights without the DC head may start a run with one: the head is zero-initialised, so the network computes
        # the same function until training moves it (the only change of model allowed here).
        adds_head = {**meta.get("hparams", {}), "dc_head": True} == self.settings.hparams
        if meta.get("hparams") != self.settings.hparams and not adds_head:
            raise ValueError(f"init weights {weights} have hparams {meta.get('hparams')}, settings ask for "
                             f"{self.settings.hparams}; pass init_weights=None to train this model from scratch")
        tensors = load_file(weights, device=str(self.settings.device))
        missing, unexpected = self.net.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=False)
        if unexpected or any(not k.startswith("dc_head.") for k in missing) or (missing and not adds_head):
            raise ValueError(f"init weights {weights} do not fit the model: missing {missing}, unexpected {unexpected}")
        self.ema.load_state_dict(self.net.state_dict())
        self.step = self.start_step = int(meta.get("trained_steps", 0))
        self.init = {"name": meta.get("name"), "sha256": meta.get("sha256"), "trained_steps": self.step}
        # what the init's config recommends beyond the run's own settings, carried into this run's export: per-task
        # sampler settings and the colour companion (measured for the init weights; re-measure before shipping)
        self.carried = {"tasks": (meta.get("sampling") or {}).get("tasks"), "colour": meta.get("colour")}

    def save(self) -> dict:
        state = {"step": self.step, "start_step": self.start_step, "init": self.init, "carried": self.carried,
                 "hparams": self.settings.hparams, "settings": self.settings.to_record(),
                 "sampler_rng": self.sampler.state(), "generator": self.generator.get_state(),
                 "torch_rng": torch.get_rng_state()}
        save_checkpoint(self.settings.checkpoint_dir, self.net, self.ema, self.optimizer, state)
        return export_weights(self.ema, self.settings.export_path, self.export_meta())

    def export_meta(self) -> dict:
        s = self.settings
        return {"arch": "adm", "hparams": s.hparams, "schedule": {"kind": "linear", "T": s.num_timesteps},
                "name": s.name, "license": s.license, "trained_steps": self.step,
                "data": (f"ddnm-batch photo corpus ({len(self.train_names)} training images; held out: "
                         f"{', '.join(p.name for p in self.holdout)}); {s.window}px crops: "
                         f"{s.thumbnail_fraction:.0%} whole-photo thumbnails, {s.context_fraction:.0%} large-context, "
                         "the rest multi-scale detail; horizontal flips, no colour jitter; see docs/model_card.md"),
                # photos drawn more (or less) often than the rest, by name: which data the weights saw, and how much
                **({"photo_weights": self.weighted} if self.weighted else {}),
                "init": self.init, "batch_size": s.batch_size, "ema_decay": s.ema_decay,
                # a head-only run: these data trained that part alone, the rest is the init weights' (and their data)
                **({"train_only": s.train_only} if s.train_only else {}),
                **({"dc_head_fit": self.fitted} if self.fitted else {}),
                # Sampler settings ddnm.restore uses for this prior unless told otherwise (measured per prior,
                # docs/model_card.md): DDIM steps, η, and K samples whose posterior mean is returned.
                "sampling": {**s.sampling, **({"tasks": tasks} if (tasks := self.carried.get("tasks")) else {})},
                **({"colour": colour} if (colour := self.carried.get("colour")) else {})}

    def train_step(self) -> torch.Tensor:
        """One step on the next batch; the loss as a 0-d tensor (no host sync here: read it when logging)."""
        return self.optimise(self.next_batch())

    def next_batch(self) -> torch.Tensor:
        """The next batch of crops on the training device, in [-1, 1]."""
        s = self.settings
        # uint8 to the device first, then to [-1, 1] there: on a GPU machine whose cores are busy cutting crops, even
        # three elementwise CPU ops on the batch wait for every OpenMP thread to get a core (docs/performance.md)
        return to_unit_range(self.sampler.sample_uint8(s.batch_size).to(s.device, non_blocking=True))

    def optimise(self, x0: torch.Tensor) -> torch.Tensor:
        """One optimizer step on ``x0`` and the EMA update (DDPM Algorithm 1's loop body)."""
        s = self.settings
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(self.step, s, self.start_step)
        with torch.autocast(device_type=self.device_type, dtype=torch.bfloat16, enabled=self.bf16):
            loss = diffusion_loss(self.forward, x0, self.alphas_cumprod, self.generator)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), s.grad_clip)
        self.optimizer.step()
        self.step += 1
        ema_update(self.ema, self.net, ema_decay_at(self.step, s.ema_decay))
        return loss.detach()


def main(settings: TrainSettings, on_log: Callable[[StepLog], None] | None = None) -> Trainer:
    """Train until ``settings.steps`` or SIGTERM/SIGINT; checkpoint and export periodically and at the end."""
    if threads := settings.threads:
        torch.set_num_threads(threads)
    trainer = Trainer(settings)
    if not trainer.resume():
        # the starting point's validation loss: the baseline a fine-tune must beat, on the same fixed crops
        val = trainer.validation.loss(trainer.ema, trainer.alphas_cumprod)
        record = StepLog(trainer.step, float("nan"), 0.0, 0.0, 0.0, val)
        _append_csv(settings.log_path, record)
        if on_log:
            on_log(record)
    start, last_save, losses = time.monotonic(), time.monotonic(), []
    window_start, window_step = start, trainer.step
    with _StopFlag() as flag:
        try:
            budget_s = settings.max_minutes * 60 if settings.max_minutes else float("inf")
            while trainer.step < settings.steps and not flag.stop and time.monotonic() - start < budget_s:
                losses.append(trainer.train_step())
                if trainer.step % settings.log_every == 0 or trainer.step == settings.steps:
                    now = time.monotonic()
                    val = trainer.validation.loss(trainer.ema, trainer.alphas_cumprod) \
                        if trainer.step % settings.validate_every == 0 else None
                    lr = lr_at(trainer.step - 1, settings, trainer.start_step)
                    record = StepLog(trainer.step, torch.stack(losses).float().mean().item(), lr,
                                     (now - window_start) / max(1, trainer.step - window_step), now - start, val)
                    _append_csv(settings.log_path, record)
                    if on_log:
                        on_log(record)
                    losses, window_start, window_step = [], now, trainer.step
                if time.monotonic() - last_save >= settings.checkpoint_every_s:
                    trainer.save()
                    last_save = time.monotonic()
        finally:
            trainer.save()
    return trainer
