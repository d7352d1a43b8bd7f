"""Settings of the prior's training job, and what it reports: plain dataclasses, no torch.

Kept apart from ``jobs.train_prior`` so that the command line (``ddnm-batch train --help``, and every other
command, which share one Typer app) starts without importing torch.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUNDLED_WEIGHTS = REPO / "ddnm/weights/ddnm-prior-64.safetensors"


def default_corpus() -> Path:
    """``$DDNM_CORPUS``, else ``/work/shared/corpus`` (this project's machines)."""
    return Path(os.environ.get("DDNM_CORPUS", "/work/shared/corpus"))


def default_state_dir() -> Path:
    """Where resumable training state lives unless told: ``$DDNM_TRAIN_DIR``, else ~/.cache/ddnm-batch/train.

    Never inside the checkout: fp32 weights and optimizer moments (~24 MB) committed on every resume bloated every
    clone's history (issue 22).
    """
    return Path(os.environ.get("DDNM_TRAIN_DIR", Path.home() / ".cache/ddnm-batch/train"))


DEFAULT_LICENSE = ("Apache-2.0 for the weights as released by ddnm-batch; trained on photos in the public domain or "
                   "under GPL-2+, CC0-1.0, CC-BY-SA-4.0, LGPL-2.1+, CC-BY-4.0, CC-BY-2.0, CC-BY-3.0, Expat, "
                   "CC-BY-SA-3.0, BSD-3-Clause and GPL-3+ (see docs/model_card.md and the corpus LICENSES.tsv); keep "
                   "those notices when redistributing")


@dataclass(frozen=True, slots=True)
class TrainSettings:
    """Everything one training run needs; defaults are the configuration chosen for a 1-core CPU (docs/training.md)."""

    corpus: Path = dataclasses.field(default_factory=default_corpus)
    window: int = 64
    num_channels: int = 32
    num_res_blocks: int = 1
    channel_mult: str = "1,2,2,2"
    attention_resolutions: str = "16,8"
    num_head_channels: int = 32
    use_scale_shift_norm: bool = True
    resblock_updown: bool = True
    dropout: float = 0.0
    # ddnm.models.adm's ε channel-mean head (what a narrow UNet's GroupNorms cannot say); on, as the bundled prior has
    # had one since session 11, so the defaults resume from its weights
    dc_head: bool = True
    # Train only the parameters whose names start with this prefix (e.g. "dc_head"), the rest frozen at their init
    # weights: a head added to a trained prior learns what it is for without moving what the trunk already does.
    train_only: str | None = None
    batch_size: int = 8
    lr: float = 2e-4
    warmup_steps: int = 200
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    steps: int = 100_000  # upper bound; a CPU session ends long before, the run resumes next time
    num_timesteps: int = 1000
    holdout_fraction: float = 0.1  # for corpora other than the project's, whose hold-out is jobs/holdout.txt
    thumbnail_fraction: float = 0.5  # crop mix, see jobs.data.CropSettings
    # "name weight" lines (jobs.photos.photo_weights): photos drawn in proportion to their weight, the rest weigh 1;
    # e.g. jobs/people.txt, so the colour prior sees enough skin (docs/training.md, session 14). None: uniform
    photo_weights: Path | None = None
    context_fraction: float = 0.25
    validate_every: int = 250
    validation_crops: int = 64
    log_every: int = 10
    checkpoint_every_s: float = 600.0
    # Stop (checkpoint and export) after this much wall-clock training, e.g. a GPU lease of a few minutes; None: no
    # limit beyond ``steps``
    max_minutes: float | None = None
    # Crop-cutting worker processes (jobs.data.ParallelCropSampler); 0 cuts crops in the training process, which is
    # what a CPU run wants. A GPU wants several: one core cuts ~1,300 64-px crops/s.
    workers: int = 0
    # state_dir/<name>/ holds checkpoint/, export/<name>.safetensors (+ .json) and train_prior.csv unless the three
    # *_at paths below are given (read them as checkpoint_dir, export_path, log_path). Copy the export into
    # ddnm/weights/ by hand when it is to ship.
    state_dir: Path = dataclasses.field(default_factory=default_state_dir)
    checkpoint_at: Path | None = None
    export_at: Path | None = None
    log_at: Path | None = None
    # With no checkpoint to resume: start from these fp16 weights (an export with its .json beside it; the step count
    # continues from its trained_steps), or from a random init when None.
    init_weights: Path | None = BUNDLED_WEIGHTS
    name: str = "ddnm-prior-64"
    # What the export's config recommends to samplers ("sampling" in the .json), measured per prior.
    sampling_steps: int = 20
    sampling_eta: float = 1.0
    sampling_samples: int = 1
    license: str = DEFAULT_LICENSE
    seed: int = 0
    device: str = "cpu"
    bf16: bool = True  # autocast the step to bfloat16 where that is native (Trainer.bf16: CUDA, AVX-512 BF16)
    num_threads: int | None = None  # torch.set_num_threads for this process; None leaves torch's default
    # torch.compile the network for the training step (Trainer.forward): fuses the many small kernels of a 2 M-param
    # ADM (GroupNorm, SiLU, casts), which a GPU otherwise spends launching; the weights and checkpoints are the same
    compile: bool = False

    def __post_init__(self):
        if self.batch_size < 1 or self.steps < 1 or self.lr <= 0:
            raise ValueError(f"batch_size {self.batch_size}, steps {self.steps}, lr {self.lr}: all must be positive")
        mix = (self.thumbnail_fraction, self.context_fraction)
        if min(mix) < 0 or sum(mix) > 1:
            raise ValueError(f"thumbnail_fraction {self.thumbnail_fraction} + context_fraction "
                             f"{self.context_fraction} must be ≥ 0 each and ≤ 1 together")
        if self.workers < 0 or (self.max_minutes is not None and self.max_minutes <= 0):
            raise ValueError(f"workers {self.workers} must be ≥ 0 and max_minutes {self.max_minutes} positive")
        if self.train_only is not None and not self.train_only:
            raise ValueError("train_only is a parameter-name prefix such as 'dc_head'; leave it unset to train all")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay {self.ema_decay} must be in [0, 1), e.g. 0.999")
        if self.window % 2 ** (len(self.channel_mult.split(",")) - 1):
            raise ValueError(f"window {self.window} must be divisible by 2^(levels-1) for channel_mult "
                             f"{self.channel_mult!r}; pick 64 or 128")

    @property
    def hparams(self) -> dict:
        """Keyword arguments for ``ddnm.models.adm.create_model``."""
        return dict(image_size=self.window, num_channels=self.num_channels, num_res_blocks=self.num_res_blocks,
                    channel_mult=self.channel_mult, attention_resolutions=self.attention_resolutions,
                    num_head_channels=self.num_head_channels, use_scale_shift_norm=self.use_scale_shift_norm,
                    resblock_updown=self.resblock_updown, dropout=self.dropout, learn_sigma=False,
                    **({"dc_head": True} if self.dc_head else {}))  # absent when off: older configs still match

    def to_record(self) -> dict:
        return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()}

    @property
    def checkpoint_dir(self) -> Path:
        return Path(self.checkpoint_at or Path(self.state_dir) / self.name / "checkpoint")

    @property
    def export_path(self) -> Path:
        return Path(self.export_at or Path(self.state_dir) / self.name / "export" / f"{self.name}.safetensors")

    @property
    def log_path(self) -> Path:
        return Path(self.log_at or Path(self.state_dir) / self.name / "train_prior.csv")

    @property
    def threads(self) -> int | None:
        """torch CPU threads for the training process: ``num_threads``, else 2 when crop workers feed a GPU (they own
        the cores; this process only launches GPU work), else None (torch's default)."""
        if self.num_threads:
            return self.num_threads
        return 2 if self.workers and str(self.device).split(":")[0] == "cuda" else None

    @property
    def sampling(self) -> dict:
        """The export's ``sampling`` block: steps, η and samples (posterior mean of K) recommended for this prior."""
        return {"steps": self.sampling_steps, "eta": self.sampling_eta, "samples": self.sampling_samples}


@dataclass(frozen=True, slots=True)
class StepLog:
    """What the loop reports every ``log_every`` steps."""

    step: int
    loss: float  # mean training loss since the last report
    lr: float
    seconds_per_step: float
    elapsed_s: float
    val_loss: float | None = None
