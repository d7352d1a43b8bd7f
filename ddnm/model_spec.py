"""Which prior restores and how its network runs: ``ModelSpec``, part of ``ddnm.settings.RestoreSettings``.

Torch-free like the rest of the settings (the command line builds it before loading torch); ``load`` imports
``ddnm.models`` only when called. A field's ``metadata["help"]`` is its command-line option's help.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Which prior restores, and how its network runs (``ddnm.models.load``'s arguments; docs/models.md).

    path None (or "bundled") is the prior shipped in ``ddnm/weights``; "ffdnet" the FFDNet denoiser; else a
    checkpoint (``.safetensors`` with a sidecar ``.json``, or ``.pt`` with ``arch`` and ``preset``) or a diffusers
    SD3 folder.
    """

    path: str | None = field(default=None, metadata={
        "help": "'bundled', 'ffdnet', a checkpoint (.safetensors with its sidecar .json, or .pt with --arch and "
                "--preset) or a diffusers SD3 folder.", "option": "model", "cli_default": "bundled"})  # fmt: skip
    arch: str | None = field(default=None, metadata={"help": "Architecture of a .pt checkpoint without a sidecar "
                                                             "JSON: adm or ddpm (sd3 for a diffusers folder)."})
    preset: str | None = field(default=None, metadata={"help": "Hyper-parameters of --arch by name: "
                                                               "imagenet256_uncond (adm) or celeba_hq (ddpm)."})
    dtype: str = field(default="float32", metadata={"help": "Network precision: float32, bfloat16 or float16 "
                                                            "(autocast; the sampler's maths stays float32)."})
    channels_last: bool | None = field(default=None, metadata={"help": "Run the network in channels-last memory "
        "format: the same maths, faster convolutions (default: on for adm/ddpm networks, the bundled priors among "
        "them; --no-channels-last keeps the contiguous layout)."})  # fmt: skip
    compile: bool = field(default=False, metadata={"help": "torch.compile the network (adm/ddpm; falls back to "
                                                           "eager with one warning)."})

    def __post_init__(self) -> None:
        if self.path == "bundled":
            object.__setattr__(self, "path", None)
        if self.path is not None and not str(self.path):
            raise ValueError("model must be 'bundled', 'ffdnet' or a weights path")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {list(DTYPES)}, got {self.dtype!r}")
        if self.preset is not None and self.path in (None, "ffdnet"):
            raise ValueError(f"preset applies to a checkpoint file (--model my.pt --arch adm --preset ...), not to "
                             f"the {'bundled prior' if self.path is None else 'ffdnet denoiser'}")

    @property
    def label(self) -> str:
        """The model as the command line spells it."""
        return "bundled" if self.path is None else self.path

    def load(self, device="cpu"):
        """The prior on ``device``, as ``ddnm.models.load`` builds it from these fields."""
        from .models import load

        extra = {} if self.preset is None else {"preset": self.preset}
        return load(self.path, self.arch, device=device, dtype=self.dtype, channels_last=self.channels_last,
                    compile=self.compile, **extra)  # fmt: skip
