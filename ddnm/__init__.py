"""DDNM / DDNM+ zero-shot image restoration (Wang, Yu, Zhang, ICLR 2023): operators, samplers, model adapters.

No Ray, no S3, no file I/O here beyond loading weights; ``pipeline/`` does the plumbing. ``ddnm.restore`` (in
``ddnm.restoration``) is the one call. Nothing here is imported until it is used, so the command line can read
the torch-free settings (``ddnm.settings``) without loading torch.
"""

__version__ = "0.1.0"

__all__ = ["ModelSpec", "RestoreSettings", "Restoration", "SamplerSettings", "metrics", "operators", "restore",
           "restoring_prior", "sample_ddnm", "__version__"]


def __getattr__(name: str):
    # Imported when first used (written out, so tests/test_import_cycles.py sees every edge).
    if name in ("restore", "Restoration", "restoring_prior"):
        from .restoration import Restoration, restore, restoring_prior

        return {"restore": restore, "Restoration": Restoration, "restoring_prior": restoring_prior}[name]
    if name == "sample_ddnm":
        from .samplers import sample_ddnm

        return sample_ddnm
    if name in ("SamplerSettings", "RestoreSettings", "ModelSpec"):
        from .settings import ModelSpec, RestoreSettings, SamplerSettings

        return {"SamplerSettings": SamplerSettings, "RestoreSettings": RestoreSettings, "ModelSpec": ModelSpec}[name]
    if name == "metrics":
        import ddnm.metrics as metrics  # not `from . import`: that asks this __getattr__ again

        return metrics
    if name == "operators":
        import ddnm.operators as operators  # not `from . import`: that asks this __getattr__ again

        return operators
    if name == "models":
        import ddnm.models as models  # not `from . import`: that asks this __getattr__ again

        return models
    raise AttributeError(name)
