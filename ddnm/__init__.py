"""DDNM / DDNM+ zero-shot image restoration (Wang, Yu, Zhang, ICLR 2023): operators, samplers, model adapters.

No Ray, no S3, no file I/O here beyond loading weights; ``pipeline/`` does the plumbing.
"""

from . import metrics, operators
from .restore import restore, restoring_prior
from .samplers import sample_ddnm
from .settings import SamplerSettings

__version__ = "0.1.0"

__all__ = ["SamplerSettings", "metrics", "operators", "restore", "restoring_prior", "sample_ddnm", "__version__"]


def __getattr__(name: str):
    # ddnm.models pulls in the network code; import it only when asked for.
    if name == "models":
        import importlib

        return importlib.import_module(".models", __name__)
    raise AttributeError(name)
