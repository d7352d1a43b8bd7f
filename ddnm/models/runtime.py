"""How the ε-network is run: precision (autocast), memory layout (channels_last), ``torch.compile`` and the CUDA
backend flags. Only the network call changes; the sampler's arithmetic (x0 from ε, the operator, the DDNM
projection, the noise) stays float32, so consistency ‖A x̂ − y‖ is as exact as in the fp32 path.

    model = ddnm.models.load(device="cuda", dtype=torch.bfloat16, channels_last=True, compile=True)

The defaults (float32, contiguous, eager) leave the network call exactly as it was: outputs are bit-identical.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager, nullcontext

import torch

LOW_PRECISION = (torch.bfloat16, torch.float16)
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def configure_backend(device: torch.device) -> None:
    """cudnn.benchmark on CUDA: the sampler calls the network with one input shape for every step, so the search for
    the fastest convolution algorithm is paid once and amortised over all steps and images."""
    if torch.device(device).type == "cuda":
        torch.backends.cudnn.benchmark = True


@contextmanager
def tf32_network(device: torch.device):
    """TF32 for the network's fp32 matmuls and convolutions on CUDA (10-bit mantissa, ~8x the fp32 rate on Ampere+),
    restored afterwards so the operator maths and the DDNM projection (which may use matmuls: colorize, SVD
    operators) keep full fp32 precision and the consistency certificate stays ≤ 1e-4."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def network_precision(device: torch.device, dtype: torch.dtype):
    """The context the network runs in: autocast for bf16/fp16 (matmuls and convolutions in ``dtype``, reductions
    such as softmax and normalisation in fp32, as torch's autocast lists say), TF32 for an fp32 network on CUDA."""
    if dtype in LOW_PRECISION:
        return torch.autocast(device.type, dtype=dtype)
    return tf32_network(device) if device.type == "cuda" else nullcontext()


class CompiledNetwork:
    """``torch.compile(net)`` that falls back to the eager network, for good and with ONE warning, the first time
    compiling or running the compiled graph fails (no C++ compiler, an untraceable layer, an unsupported platform).

    Deliberately not an ``nn.Module``: the model keeps the eager network as its only submodule, so its state_dict,
    ``.to()`` and parameter count are unchanged; the compiled callable shares the same parameters.
    """

    def __init__(self, net: torch.nn.Module, mode: str = "default"):
        if mode not in COMPILE_MODES:
            raise ValueError(f"unknown torch.compile mode {mode!r}; expected one of {COMPILE_MODES}")
        self.net, self.mode, self.failed = net, mode, False
        try:
            # dynamic=False: the sampler's shapes are static (one batch, one window), which suits CUDA graphs.
            self.compiled = torch.compile(net, mode=None if mode == "default" else mode, dynamic=False)
        except Exception as exc:  # noqa: BLE001 - any failure means: run eagerly
            self._fall_back(exc)

    def _fall_back(self, exc: Exception) -> None:
        self.failed = True
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        warnings.warn(f"torch.compile failed ({type(exc).__name__}: {first_line}); running the network eagerly",
                      RuntimeWarning, stacklevel=3)

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if not self.failed:
            try:
                return self.compiled(x, t)
            except Exception as exc:  # noqa: BLE001 - a real error (bad shape, OOM) recurs eagerly and is raised there
                self._fall_back(exc)
        return self.net(x, t)


def check_dtype(dtype: torch.dtype) -> torch.dtype:
    if dtype not in (torch.float32, *LOW_PRECISION):
        raise ValueError(f"dtype must be torch.float32, torch.bfloat16 or torch.float16, got {dtype}")
    return dtype


def parse_dtype(name: str | torch.dtype) -> torch.dtype:
    """``"bf16"``/``"bfloat16"``/``torch.bfloat16`` → ``torch.bfloat16`` (likewise fp16, fp32); a one-line error else."""
    if isinstance(name, torch.dtype):
        return check_dtype(name)
    aliases = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16"}
    value = getattr(torch, aliases.get(str(name), str(name)), None)
    if not isinstance(value, torch.dtype):
        raise ValueError(f"unknown dtype {name!r}; expected float32, bfloat16 or float16 (fp32, bf16, fp16)")
    return check_dtype(value)
