"""benchmarks/guidance_memory.py: the sampling memory docs/guidance.md reports, each rule in a fresh process."""

from __future__ import annotations

import pytest

from benchmarks.guidance import EVAL_DIR
from benchmarks.guidance_memory import sampling_memory_mib


@pytest.mark.skipif(not (EVAL_DIR / "Set5").is_dir(), reason=f"no evaluation images under {EVAL_DIR}")
def test_backpropagating_through_the_network_costs_more_memory_than_projecting():
    memory = sampling_memory_mib(["DDNM", "DPS"], "SR×4", images=4, device="cpu")
    # DPS keeps the network's activations for the backward pass; DDNM runs under inference mode.
    assert 0 < memory["DDNM"] < memory["DPS"]
    assert memory["DPS"] > 1.5 * memory["DDNM"]
